using System.IO.Compression;
using System.Text.RegularExpressions;
using MtkdRl.Core;
using MtkdRl.Data.Formats;
using MtkdRl.Tests.Support;
using static MtkdRl.Tests.Data.DataBytes;

namespace MtkdRl.Tests.Data;

public class NpzFileTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Every_dtype_round_trips_through_stored_and_deflated_archives(bool compress)
    {
        int seed = TestSeeds.Next();
        var arrays = Enum.GetValues<NpyDType>().ToDictionary(d => d.Name(), d => NpyFileTests.RandomArray(d, seed + (int)d, 4, 3));
        string path = _dir.File("x.npz");
        NpzFile.Write(path, arrays, compress);

        Assert.Equal(arrays.Keys, NpzFile.Names(path));
        var read = NpzFile.ReadAll(path);
        foreach (var (name, original) in arrays)
        {
            Assert.Equal(original.DType, read[name].DType);
            Assert.Equal([4, 3], read[name].Shape);
            Assert.True(NpyFileTests.Bytes(original.Data).SequenceEqual(NpyFileTests.Bytes(read[name].Data)), $"{name}, seed {seed}");
            Assert.Equal($"{path}:{name}", read[name].Source);
        }
        Assert.Equal([4, 3], NpzFile.ReadHeader(path, "float16").Shape);
        Assert.Equal(NpyDType.Int64, NpzFile.Read(path, "int64").DType);
        using var zip = ZipFile.OpenRead(path);
        Assert.All(zip.Entries, e => Assert.Equal(compress, e.CompressedLength < e.Length));
    }

    [Fact]
    public void A_missing_array_is_named_with_the_ones_present()
    {
        string path = _dir.File("x.npz");
        NpzFile.Write(path, new Dictionary<string, NpyArray> { ["logits"] = NpyArray.Create(new[] { 1f }, 1), ["emb"] = NpyArray.Create(new[] { 2f }, 1) });
        Assert.Equal($"{path}: no array 'labels' (arrays: logits, emb)", Assert.Throws<MtkdInputException>(() => NpzFile.Read(path, "labels")).Message);
    }

    [Fact]
    public void Members_that_are_not_npy_are_ignored()
    {
        string path = _dir.File("x.npz");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            using (var s = zip.CreateEntry("README").Open()) s.Write("hello"u8);
            using (var s = zip.CreateEntry("a.npy").Open()) s.Write(Npy("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", [7, 8]));
        }
        Assert.Equal(["a"], NpzFile.Names(path));
        Assert.Equal([7, 8], NpzFile.ReadAll(path)["a"].Get<byte>());
    }

    [Fact]
    public void A_file_that_is_not_a_zip_is_refused()
    {
        string path = _dir.Write("x.npz", DataBytes.Random(3, 500));
        var e = Assert.Throws<MtkdInputException>(() => NpzFile.ReadAll(path));
        Assert.StartsWith($"{path}: not a valid NPZ (zip) archive", e.Message);
    }

    [Theory]
    [InlineData(CompressionLevel.NoCompression)]
    [InlineData(CompressionLevel.Optimal)]
    public void A_member_whose_shape_does_not_fit_its_data_is_refused_before_allocating(CompressionLevel level)
    {
        string path = _dir.File("x.npz");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        using (var s = zip.CreateEntry("logits.npy", level).Open())
            s.Write(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000,), }", new byte[8]));
        var e = Assert.Throws<MtkdInputException>(() => NpzFile.Read(path, "logits"));
        Assert.Equal($"{path}:logits: truncated: header says shape (100000000,) of float32 (400000000 bytes), zip directory says 8", e.Message);
        Assert.True(DataBytes.AllocatedWhile(() => NpzFile.Read(path, "logits")) < 1 << 20, "allocated the promised payload");
    }

    [Fact]
    public void Corrupt_deflated_data_is_refused()
    {
        string path = _dir.File("x.npz");
        NpzFile.Write(path, new Dictionary<string, NpyArray> { ["a"] = NpyArray.Create(DataBytes.Random(4, 20000).Select(b => (float)(b % 7)).ToArray(), 20000) }, compress: true);
        byte[] bytes = System.IO.File.ReadAllBytes(path);
        for (int i = 200; i < bytes.Length / 2; i += 5) bytes[i] ^= 0xA5;
        System.IO.File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<MtkdInputException>(() => NpzFile.ReadAll(path));
        Assert.StartsWith($"{path}:a: ", e.Message);
    }

    [Fact]
    public void A_flipped_bit_in_a_stored_member_fails_the_crc_check()
    {
        string path = _dir.File("x.npz");
        NpzFile.Write(path, new Dictionary<string, NpyArray> { ["a"] = NpyArray.Create(new float[100], 100) });
        byte[] bytes = System.IO.File.ReadAllBytes(path);
        int data = bytes.AsSpan().IndexOf("a.npy"u8) + 5 + 128;   // local header, name, NPY header
        bytes[data + 17] ^= 1;
        System.IO.File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<MtkdInputException>(() => NpzFile.ReadAll(path));
        Assert.Matches($"^{Regex.Escape(path)}:a: CRC-32 is [0-9a-f]{{8}}, the zip directory says [0-9a-f]{{8}}: the data is corrupt$", e.Message);
    }

    [Fact]
    public void Crc32_matches_the_standard_check_value()
    {
        Assert.Equal(0xCBF43926u, Crc32.Append(0, "123456789"u8));
        byte[] data = DataBytes.Random(TestSeeds.Next(), 1001);
        Assert.Equal(Crc32.Append(0, data), Crc32.Append(Crc32.Append(0, data.AsSpan(0, 333)), data.AsSpan(333)));
    }

    [Fact]
    public void Duplicate_member_names_are_refused()
    {
        string path = _dir.File("x.npz");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
            for (int i = 0; i < 2; i++)
                using (var s = zip.CreateEntry("a.npy").Open()) s.Write(Npy("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), }", [1]));
        Assert.Equal($"{path}: member 'a.npy' appears twice", Assert.Throws<MtkdInputException>(() => NpzFile.ReadAll(path)).Message);
    }

    [Fact]
    public void Writer_refuses_bad_names()
    {
        var one = NpyArray.Create(new[] { 1f }, 1);
        Assert.Throws<ArgumentException>(() => NpzFile.Write(_dir.File("x.npz"), [new("a/b", one)]));
        Assert.Throws<ArgumentException>(() => NpzFile.Write(_dir.File("x.npz"), [new("a", one), new("a", one)]));
        Assert.False(System.IO.File.Exists(_dir.File("x.npz")));
    }
}
