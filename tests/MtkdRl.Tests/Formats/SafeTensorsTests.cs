using MtkdRl.Tests.Data;
using System.Buffers.Binary;
using System.Text;
using MtkdRl.Core;
using MtkdRl.Core.Formats;

namespace MtkdRl.Tests.Formats;

public class SafeTensorsTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private string TempFile() => _temp.File($"{Guid.NewGuid():N}/t.safetensors");

    [Fact]
    public void Round_trip_is_bit_exact_for_every_dtype_and_keeps_metadata()
    {
        string path = TempFile();
        float[] w = [1.5f, -0f, float.Epsilon, 3e38f, 0.1f, -7f];
        Half[] h = [(Half)1.5f, (Half)(-2f)];
        int[] i = [int.MinValue, 7];
        long[] l = [long.MaxValue];
        double[] d = [Math.PI, -0.0, 1e-300];
        var b = new SafeTensors.Builder().Add("layer.w", w, 2, 3).Add("h", h, 2).Add("i", i, 2, 1).Add("l", l, 1).Add("d", d, 3);
        b.Metadata["arch"] = "mlp:64";
        b.Write(path);

        var f = SafeTensors.File.Read(path);
        Assert.Equal(w.Select(BitConverter.SingleToInt32Bits), f.ReadSingle("layer.w", [2, 3]).Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(h, f.ReadHalf("h"));
        Assert.Equal(i, f.ReadInt32("i", [2, 1]));
        Assert.Equal(l, f.ReadInt64("l"));
        Assert.Equal(d.Select(BitConverter.DoubleToInt64Bits), f.ReadDouble("d").Select(BitConverter.DoubleToInt64Bits));
        Assert.Equal("mlp:64", f.Metadata["arch"]);
        Assert.Equal(0, (8 + BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(path).AsSpan(0, 8))) % 8);
    }

    [Fact]
    public void Wrong_dtype_or_shape_or_name_is_a_one_line_error_naming_the_file()
    {
        string path = TempFile();
        new SafeTensors.Builder().Add("w", new float[6], 2, 3).Write(path);
        var f = SafeTensors.File.Read(path);
        Assert.Contains("tensor 'w' has shape [2,3], expected [3,2]", Assert.Throws<MtkdInputException>(() => f.ReadSingle("w", [3, 2])).Message);
        Assert.Contains("tensor 'w' is F32, expected I32", Assert.Throws<MtkdInputException>(() => f.ReadInt32("w")).Message);
        Assert.StartsWith(path, Assert.Throws<MtkdInputException>(() => f.ReadSingle("missing")).Message);
    }

    private string Hostile(string header, int dataBytes, long? declaredLength = null)
    {
        string path = TempFile();
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(declaredLength ?? h.Length));
        h.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "past the 4-byte data section")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12 bytes but its offsets span 8")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlaps")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap of 4 bytes")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "4 bytes after the last tensor")]
    [InlineData("{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unsupported dtype 'Q4'")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,4]}}", 4, "larger than the 4-byte data section")]
    [InlineData("[1,2]", 0, "header is not a JSON object")]
    [InlineData("{\"w\":", 0, "header is not valid JSON")]
    public void Hostile_headers_are_refused(string header, int dataBytes, string expected)
    {
        string path = Hostile(header, dataBytes);
        var e = Assert.Throws<MtkdInputException>(() => SafeTensors.File.Read(path));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith(path, e.Message);
    }

    [Fact]
    public void A_header_length_past_the_end_or_over_the_limit_is_refused_before_reading_it()
    {
        var e1 = Assert.Throws<MtkdInputException>(() => SafeTensors.File.Read(Hostile("{}", 0, declaredLength: 1000)));
        Assert.Contains("truncated: header length 1000 passes the end", e1.Message);
        var e2 = Assert.Throws<MtkdInputException>(() => SafeTensors.File.Read(Hostile("{}", 0, declaredLength: long.MaxValue)));
        Assert.Contains("over the", e2.Message);
    }
}
