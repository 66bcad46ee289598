using MtkdRl.Core;

namespace MtkdRl.Data.Formats;

/// <summary>
/// An n-dimensional array as NPY stores it: C order, one of <see cref="NpyDType"/>, held in a typed .NET array
/// (float[], Half[], int[] ...). <see cref="Source"/> names the file (and member) it came from, so that a caller
/// finding the wrong dtype or shape can say where.
/// </summary>
public sealed class NpyArray
{
    private readonly int[] _shape;

    public NpyArray(Array data, IReadOnlyList<int> shape, string source = "array")
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Rank != 1) throw new ArgumentException("data must be a one-dimensional array", nameof(data));
        DType = NpyDTypes.FromElementType(data.GetType().GetElementType()!);
        _shape = [.. shape];
        long count = 1;
        foreach (int d in _shape)
        {
            if (d < 0) throw new ArgumentException($"shape {NpyHeader.FormatShape(_shape)} has a negative dimension", nameof(shape));
            count *= d;
        }
        if (count != data.LongLength)
            throw new ArgumentException($"shape {NpyHeader.FormatShape(_shape)} needs {count} elements, data has {data.LongLength}", nameof(shape));
        Data = data;
        Source = source;
    }

    public static NpyArray Create<T>(T[] data, params int[] shape) where T : unmanaged => new(data, shape);

    public NpyDType DType { get; }

    public IReadOnlyList<int> Shape => _shape;

    public int Rank => _shape.Length;

    public long Length => Data.LongLength;

    /// <summary>The elements: a T[] whose T matches <see cref="DType"/>.</summary>
    public Array Data { get; }

    public string Source { get; }

    public string ShapeText => NpyHeader.FormatShape(_shape);

    /// <summary>The elements as T[], the array itself (no copy); throws naming the source when the dtype differs.</summary>
    public T[] Get<T>() where T : unmanaged =>
        Data as T[] ?? throw new MtkdInputException(
            $"{Source}: dtype is {DType.Name()}, expected {NpyDTypes.FromElementType(typeof(T)).Name()}");

    /// <summary>Throws naming the source unless the array has <paramref name="rank"/> dimensions; <paramref name="what"/> says what it should hold.</summary>
    public NpyArray ExpectRank(int rank, string what)
    {
        if (Rank != rank)
            throw new MtkdInputException($"{Source}: shape {ShapeText} has rank {Rank}, expected rank {rank} for {what}");
        return this;
    }

    /// <summary>
    /// The elements as float32: the array itself when it is float32, else a converted copy. Float16 and float64 are
    /// how other frameworks commonly save logits and embeddings; integers convert exactly up to 2^24.
    /// </summary>
    public float[] ToSingle()
    {
        switch (Data)
        {
            case float[] f: return f;
            case Half[] h:
            {
                var result = new float[h.Length];
                for (int i = 0; i < h.Length; i++) result[i] = (float)h[i];
                return result;
            }
            case double[] d:
            {
                var result = new float[d.Length];
                for (int i = 0; i < d.Length; i++) result[i] = (float)d[i];
                return result;
            }
            case byte[] b: return Array.ConvertAll(b, v => (float)v);
            case sbyte[] s: return Array.ConvertAll(s, v => (float)v);
            case int[] n: return Array.ConvertAll(n, v => (float)v);
            case long[] l: return Array.ConvertAll(l, v => (float)v);
            case bool[] z: return Array.ConvertAll(z, v => v ? 1f : 0f);
            default: throw new InvalidOperationException($"unhandled dtype {DType}");
        }
    }

    /// <summary>
    /// A [rows, columns] matrix of finite float32 values, from a float16, float32 or float64 array (teacher outputs
    /// computed elsewhere). <paramref name="what"/> names the content for messages, e.g. "train logits".
    /// </summary>
    public FloatMatrix ToFiniteMatrix(string what)
    {
        ExpectRank(2, what);
        if (DType is not (NpyDType.Float16 or NpyDType.Float32 or NpyDType.Float64))
            throw new MtkdInputException($"{Source}: {what} must be float16, float32 or float64, found {DType.Name()}");
        float[] values = ToSingle();
        int columns = _shape[1];
        int bad = Array.FindIndex(values, v => !float.IsFinite(v));
        if (bad >= 0)
        {
            // A finite float64 beyond float32's range turns infinite only in the conversion; the message tells the two apart.
            string value = Data is double[] d && double.IsFinite(d[bad]) ? $"{d[bad]} (beyond float32)" : ValueText(bad);
            throw new MtkdInputException($"{Source}: {what} value {value} at row {bad / columns}, column {bad % columns} is not finite");
        }
        return new FloatMatrix(values, _shape[0], columns, Source);
    }

    private string ValueText(int index) => Data switch
    {
        float[] f => f[index].ToString(),
        Half[] h => h[index].ToString(),
        double[] d => d[index].ToString(),
        _ => "?",
    };

    /// <summary>The elements as int32 (labels): integer dtypes only, every value checked to fit.</summary>
    public int[] ToInt32()
    {
        switch (Data)
        {
            case int[] n: return n;
            case byte[] b: return Array.ConvertAll(b, v => (int)v);
            case sbyte[] s: return Array.ConvertAll(s, v => (int)v);
            case long[] l:
            {
                var result = new int[l.Length];
                for (int i = 0; i < l.Length; i++)
                {
                    if (l[i] is < int.MinValue or > int.MaxValue)
                        throw new MtkdInputException($"{Source}: value {l[i]} at index {i} does not fit in int32");
                    result[i] = (int)l[i];
                }
                return result;
            }
            default: throw new MtkdInputException($"{Source}: dtype is {DType.Name()}, expected an integer dtype");
        }
    }
}
