using System.Runtime.InteropServices;
using MtkdRl.Core;
using MtkdRl.Data.Formats;
using MtkdRl.Tests.Support;
using static MtkdRl.Tests.Data.DataBytes;

namespace MtkdRl.Tests.Data;

public class NpyFileTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<NpyDType> AllDTypes() => new(Enum.GetValues<NpyDType>());

    /// <summary>Random elements of the dtype; float bit patterns are random too, so NaN payloads and infinities are covered.</summary>
    internal static NpyArray RandomArray(NpyDType dtype, int seed, params int[] shape)
    {
        long count = shape.Aggregate(1L, (p, d) => p * d);
        byte[] bytes = DataBytes.Random(seed, (int)count * dtype.ItemSize());
        Array data = Array.CreateInstance(dtype.ElementType(), count);
        if (dtype == NpyDType.Bool) for (int i = 0; i < bytes.Length; i++) bytes[i] &= 1;
        bytes.CopyTo(Bytes(data));
        return new NpyArray(data, shape);
    }

    internal static Span<byte> Bytes(Array data) => data switch
    {
        bool[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        sbyte[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        byte[] a => a,
        int[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        long[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        Half[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        float[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        double[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        _ => throw new ArgumentException(data.GetType().Name),
    };

    [Theory]
    [MemberData(nameof(AllDTypes))]
    public void Every_dtype_round_trips_bit_exactly(NpyDType dtype)
    {
        int seed = TestSeeds.Next();
        foreach (int[] shape in new[] { new[] { 7, 5 }, [3], [2, 3, 4], [], [0, 4] })
        {
            NpyArray original = RandomArray(dtype, seed, shape);
            string path = _dir.File($"{dtype}-{shape.Length}.npy");
            NpyFile.Write(path, original);

            NpyArray read = NpyFile.Read(path);
            Assert.Equal(dtype, read.DType);
            Assert.Equal(shape, read.Shape);
            Assert.True(Bytes(original.Data).SequenceEqual(Bytes(read.Data)), $"seed {seed}, shape {original.ShapeText}");
            Assert.Equal(0, NpyFile.ReadHeader(path).DataOffset % 64);
            Assert.Equal(path, read.Source);
        }
    }

    [Fact]
    public void Writer_output_equals_numpy_save_byte_for_byte()
    {
        // np.save(f, np.array([[1.5, -2.0], [0.25, 3.0]], dtype=np.float16)) with numpy 1.24.
        const string numpy =
            "934e554d5059010076007b276465736372273a20273c6632272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c20" +
            "32292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a003e00c000340042";
        string path = _dir.File("h.npy");
        NpyFile.Write(path, new Half[] { (Half)1.5, (Half)(-2.0), (Half)0.25, (Half)3.0 }, 2, 2);
        Assert.Equal(numpy, Convert.ToHexStringLower(System.IO.File.ReadAllBytes(path)));
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }")]
    [InlineData("{\"shape\":(2,),\"descr\":\"<f4\",\"fortran_order\":False}")]
    [InlineData("  { 'fortran_order' : False , 'shape' : ( 2 , ) , 'descr' : '<f4' }")]
    public void Headers_in_other_writers_spellings_are_read(string header)
    {
        string path = _dir.Write("x.npy", Npy(header, Concat(BitConverter.GetBytes(1.5f), BitConverter.GetBytes(-2f))));
        Assert.Equal([1.5f, -2f], NpyFile.Read(path).Get<float>());
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Versions_2_and_3_are_read(byte major)
    {
        string path = _dir.Write("x.npy", Npy("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", Concat(BitConverter.GetBytes(7), BitConverter.GetBytes(-1), BitConverter.GetBytes(9)), major));
        Assert.Equal([7, -1, 9], NpyFile.Read(path).Get<int>());
    }

    [Theory]
    [InlineData("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", "object dtype ('|O') needs pickle, which is not supported")]
    [InlineData("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "big-endian dtype '>f4' is not supported")]
    [InlineData("{'descr': '=f4', 'fortran_order': False, 'shape': (1,), }", "native byte order")]
    [InlineData("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", "dtype '<c8' is not supported")]
    [InlineData("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "structured dtypes")]
    [InlineData("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", "fortran_order=True is not supported")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1), }", "shape '(n)' is not a tuple")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': [1], }", "expected a shape tuple")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "expected a non-negative integer dimension")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999,), }", "larger than 2147483647")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "unexpected key 'extra'")]
    [InlineData("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "key 'descr' appears twice")]
    [InlineData("{'descr': '<f4', 'fortran_order': False}", "header has no 'shape'")]
    [InlineData("{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}", "expected True or False")]
    [InlineData("{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", "header has")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", "expected only padding after the header dict")]
    [InlineData("'descr': '<f4'", "expected '{'")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", "header ends early")]
    public void Hostile_headers_are_refused_in_one_line(string header, string expected)
    {
        string path = _dir.Write("x.npy", Npy(header, new byte[4]));
        var e = Assert.Throws<MtkdInputException>(() => NpyFile.Read(path));
        Assert.StartsWith($"{path}: ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData(5, "truncated: header says shape (2, 3) of float32 (24 bytes), file holds 20")]
    [InlineData(7, "4 unexpected bytes after the shape (2, 3) of float32 the header announces")]
    public void A_shape_that_does_not_fit_the_file_is_refused(int floats, string expected)
    {
        string path = _dir.Write("x.npy", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", new byte[4 * floats]));
        var e = Assert.Throws<MtkdInputException>(() => NpyFile.Read(path));
        Assert.Equal($"{path}: {expected}", e.Message);
    }

    [Fact]
    public void A_shape_promising_terabytes_fails_before_allocating()
    {
        string path = _dir.Write("x.npy", Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }", new byte[64]));
        var e = Assert.Throws<MtkdInputException>(() => NpyFile.Read(path));
        Assert.Contains("(8000000000000 bytes), more than one array can hold", e.Message);
        Assert.True(DataBytes.AllocatedWhile(() => NpyFile.Read(path)) < 1 << 20, "allocated the promised payload");
    }

    [Fact]
    public void A_shape_whose_size_overflows_is_refused()
    {
        string path = _dir.Write("x.npy", Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2147483647, 2147483647, 2147483647), }", new byte[8]));
        Assert.Contains("overflows a 64-bit size", Assert.Throws<MtkdInputException>(() => NpyFile.Read(path)).Message);
    }

    [Fact]
    public void A_header_longer_than_the_limit_is_refused_before_it_is_read()
    {
        byte[] bytes = Concat([0x93, .. "NUMPY"u8, 2, 0], BitConverter.GetBytes(50_000_000u), new byte[100]);
        string path = _dir.Write("x.npy", bytes);
        var e = Assert.Throws<MtkdInputException>(() => NpyFile.Read(path));
        Assert.Equal($"{path}: NPY header length 50000000 exceeds the limit of 10000 bytes", e.Message);
    }

    [Theory]
    [InlineData(new byte[] { 0x93, 0x4E, 0x55 }, "truncated: 3 bytes, an NPY file starts with an 8-byte magic and version")]
    [InlineData(new byte[] { 0x50, 0x4B, 3, 4, 0, 0, 0, 0, 0, 0 }, "not an NPY file (magic 504B03040000")]
    [InlineData(new byte[] { 0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 4, 0, 0, 0 }, "NPY version 4.0 is not supported")]
    [InlineData(new byte[] { 0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 200, 0, 32 }, "truncated: NPY header says 200 bytes, file holds 1")]
    public void Broken_preambles_are_refused(byte[] bytes, string expected)
    {
        string path = _dir.Write("x.npy", bytes);
        Assert.StartsWith($"{path}: {expected}", Assert.Throws<MtkdInputException>(() => NpyFile.Read(path)).Message);
    }

    [Fact]
    public void A_bool_byte_other_than_0_or_1_is_refused()
    {
        string path = _dir.Write("x.npy", Npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", [1, 0, 2]));
        Assert.Equal($"{path}: bool element 2 has byte value 2, expected 0 or 1", Assert.Throws<MtkdInputException>(() => NpyFile.Read(path)).Message);
    }

    [Fact]
    public void A_header_with_control_characters_still_gives_a_one_line_message()
    {
        string path = _dir.Write("x.npy", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), \n\u0001: 1}", new byte[4]));
        var e = Assert.Throws<MtkdInputException>(() => NpyFile.Read(path));
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain('\u0001', e.Message);
    }

    [Fact]
    public void Typed_access_checks_the_dtype_and_conversions_are_exact()
    {
        var halves = NpyArray.Create(new Half[] { (Half)0.5, (Half)(-3) }, 2);
        Assert.Equal("array: dtype is float16, expected float32", Assert.Throws<MtkdInputException>(() => halves.Get<float>()).Message);
        Assert.Equal([0.5f, -3f], halves.ToSingle());
        Assert.Equal([1.25f], NpyArray.Create(new[] { 1.25 }, 1).ToSingle());
        Assert.Equal([3, -4], NpyArray.Create(new long[] { 3, -4 }, 2).ToInt32());
        Assert.Contains("does not fit in int32", Assert.Throws<MtkdInputException>(() => NpyArray.Create(new long[] { 1L << 40 }, 1).ToInt32()).Message);
        Assert.Contains("expected an integer dtype", Assert.Throws<MtkdInputException>(() => NpyArray.Create(new[] { 1f }, 1).ToInt32()).Message);
        Assert.Contains("expected rank 2 for logits", Assert.Throws<MtkdInputException>(() => halves.ExpectRank(2, "logits")).Message);
    }

    [Fact]
    public void Teacher_outputs_convert_to_a_finite_float32_matrix()
    {
        var halves = NpyArray.Create(new Half[] { (Half)1, (Half)(-2), (Half)0.5, (Half)4, (Half)0, (Half)3 }, 3, 2);
        FloatMatrix m = halves.ToFiniteMatrix("train logits");
        Assert.Equal((3, 2), (m.Rows, m.Columns));
        Assert.Equal([0.5f, 4f], m.Row(1).ToArray());

        var withInf = NpyArray.Create(new[] { 1f, 2f, 3f, float.NegativeInfinity }, 2, 2);
        Assert.Equal("array: train logits value -Infinity at row 1, column 1 is not finite",
            Assert.Throws<MtkdInputException>(() => withInf.ToFiniteMatrix("train logits")).Message);
        var withNaN = NpyArray.Create(new[] { 1.0, double.NaN }, 1, 2);
        Assert.Contains("value NaN at row 0, column 1", Assert.Throws<MtkdInputException>(() => withNaN.ToFiniteMatrix("x")).Message);
        var tooBig = NpyArray.Create(new[] { 1e300 }, 1, 1);
        Assert.Contains("value 1E+300 (beyond float32) at row 0, column 0", Assert.Throws<MtkdInputException>(() => tooBig.ToFiniteMatrix("x")).Message);
        Assert.Contains("must be float16, float32 or float64, found int32", Assert.Throws<MtkdInputException>(() => NpyArray.Create(new[] { 1 }, 1, 1).ToFiniteMatrix("x")).Message);
        Assert.Contains("expected rank 2 for embeddings", Assert.Throws<MtkdInputException>(() => NpyArray.Create(new[] { 1f }, 1).ToFiniteMatrix("embeddings")).Message);
    }

    [Fact]
    public void An_inconsistent_shape_is_refused_and_leaves_the_previous_file_intact()
    {
        string path = _dir.File("x.npy");
        NpyFile.Write(path, new[] { 1f, 2f }, 2);
        Assert.Throws<ArgumentException>(() => NpyFile.Write(path, new[] { 1f, 2f, 3f }, 2));
        Assert.Equal([1f, 2f], NpyFile.Read(path).Get<float>());
        Assert.Equal(["x.npy"], Directory.GetFiles(_dir.Root).Select(Path.GetFileName));
    }

    [Fact]
    public void A_header_in_utf8_with_invalid_bytes_is_refused_in_version_3()
    {
        byte[] bytes = Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new byte[4], 3);
        bytes[12 + 60] = 0xFF;
        string path = _dir.Write("x.npy", bytes);
        Assert.Contains("not valid UTF-8", Assert.Throws<MtkdInputException>(() => NpyFile.Read(path)).Message);
    }
}
