namespace MtkdRl.Data.Formats;

/// <summary>The element types read and written in NPY files, all little-endian.</summary>
public enum NpyDType
{
    Bool,
    Int8,
    UInt8,
    Int32,
    Int64,
    Float16,
    Float32,
    Float64,
}

public static class NpyDTypes
{
    public static int ItemSize(this NpyDType dtype) => dtype switch
    {
        NpyDType.Bool or NpyDType.Int8 or NpyDType.UInt8 => 1,
        NpyDType.Float16 => 2,
        NpyDType.Int32 or NpyDType.Float32 => 4,
        NpyDType.Int64 or NpyDType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary>numpy's descr string, as numpy itself writes it ('|' for one-byte types, '&lt;' otherwise).</summary>
    public static string Descr(this NpyDType dtype) => dtype switch
    {
        NpyDType.Bool => "|b1",
        NpyDType.Int8 => "|i1",
        NpyDType.UInt8 => "|u1",
        NpyDType.Int32 => "<i4",
        NpyDType.Int64 => "<i8",
        NpyDType.Float16 => "<f2",
        NpyDType.Float32 => "<f4",
        NpyDType.Float64 => "<f8",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary>The numpy name, for messages.</summary>
    public static string Name(this NpyDType dtype) => dtype.ToString().ToLowerInvariant();

    public static Type ElementType(this NpyDType dtype) => dtype switch
    {
        NpyDType.Bool => typeof(bool),
        NpyDType.Int8 => typeof(sbyte),
        NpyDType.UInt8 => typeof(byte),
        NpyDType.Int32 => typeof(int),
        NpyDType.Int64 => typeof(long),
        NpyDType.Float16 => typeof(Half),
        NpyDType.Float32 => typeof(float),
        NpyDType.Float64 => typeof(double),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    public static NpyDType FromElementType(Type type) =>
        type == typeof(bool) ? NpyDType.Bool
        : type == typeof(sbyte) ? NpyDType.Int8
        : type == typeof(byte) ? NpyDType.UInt8
        : type == typeof(int) ? NpyDType.Int32
        : type == typeof(long) ? NpyDType.Int64
        : type == typeof(Half) ? NpyDType.Float16
        : type == typeof(float) ? NpyDType.Float32
        : type == typeof(double) ? NpyDType.Float64
        : throw new ArgumentException($"element type {type.Name} has no NPY dtype here", nameof(type));

    /// <summary>
    /// Parses a descr string, or returns why it is refused. Byte order must be little-endian ('&lt;'); one-byte types
    /// may also say '|' (numpy's own spelling) since their byte order is meaningless.
    /// </summary>
    public static NpyDType? TryParse(string descr, out string problem)
    {
        problem = "";
        if (descr.Length >= 2 && descr[1] == 'O')
        {
            problem = $"object dtype ('{descr}') needs pickle, which is not supported";
            return null;
        }
        if (descr.Length < 3)
        {
            problem = $"dtype '{descr}' is not understood";
            return null;
        }
        char order = descr[0];
        string code = descr[1..];
        NpyDType? dtype = code switch
        {
            "b1" => NpyDType.Bool,
            "i1" => NpyDType.Int8,
            "u1" => NpyDType.UInt8,
            "i4" => NpyDType.Int32,
            "i8" => NpyDType.Int64,
            "f2" => NpyDType.Float16,
            "f4" => NpyDType.Float32,
            "f8" => NpyDType.Float64,
            _ => null,
        };
        if (dtype is null)
        {
            problem = $"dtype '{descr}' is not supported (bool, int8, uint8, int32, int64, float16, float32, float64 are)";
            return null;
        }
        bool oneByte = dtype.Value.ItemSize() == 1;
        bool orderOk = order == '<' || (oneByte && order is '|' or '>');
        if (!orderOk)
        {
            problem = order switch
            {
                '>' => $"big-endian dtype '{descr}' is not supported; save it little-endian (astype('<{code}'))",
                '=' => $"dtype '{descr}' has native byte order, which a file cannot state; expected '<{code}'",
                _ => $"dtype '{descr}' has an invalid byte order '{order}'",
            };
            return null;
        }
        return dtype;
    }
}
