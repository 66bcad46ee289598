using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using MtkdRl.Cli;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Formats;
using MtkdRl.Teachers;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Teachers;
using MtkdRl.Tests.Training;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Cli;

/// <summary>A tiny dataset as IDX files and a pool trained on it, shared by the CLI tests that need one.</summary>
public sealed class TinyPoolFixture : IDisposable
{
    public TinyPoolFixture()
    {
        Folder = new TempFolder();
        DataDir = TeacherTestData.WriteIdx(TeacherTestData.Tiny, Folder.Root);
        Data = DatasetLocator.Load(DataDir);
        Pool = Folder.Sub("pool");
        TeacherPool.Train(Pool, Data, PoolPresets.Get("quick", Data, 1, epochs: 1).Take(2).ToList(), TrainingTestCompute.Shared);
    }

    public TempFolder Folder { get; }
    public string DataDir { get; }
    public ImageDataset Data { get; }
    public string Pool { get; }

    /// <summary>The pool with its training cache, made once for the tests that distil from it.</summary>
    public string CachedPool()
    {
        lock (this)
        {
            if (!File.Exists(TeacherCache.PathOf(Pool, "train")))
                AssertOk(Run("teachers", "cache", "--pool", Pool, "--data", DataDir));
        }
        return Pool;
    }

    public void Dispose() => Folder.Dispose();
}

/// <summary>`mtkd teachers train|cache|import` and `mtkd eval`: the happy path on a tiny dataset, and one line per kind of bad input.</summary>
[Collection("console")]
public class TeachersCliTests(TinyPoolFixture fixture) : IClassFixture<TinyPoolFixture>
{
    private static void AssertNothingWritten(string pool)
    {
        Assert.True(!Directory.Exists(pool) || Directory.GetFiles(pool, "*", SearchOption.AllDirectories).Length == 0,
            $"{pool} holds {string.Join(", ", Directory.Exists(pool) ? Directory.GetFiles(pool) : [])}");
    }

    [Fact]
    public void Train_cache_import_and_eval_work_end_to_end()
    {
        using var temp = new TempFolder();
        string pool = Path.Combine(temp.Root, "pool");
        var train = Run("teachers", "train", "--data", fixture.DataDir, "--pool", pool, "--preset", "quick", "--epochs", "1", "--threads", "2");
        Assert.True(train.Code == 0, train.Err);
        foreach (string column in new[] { "teacher", "spec", "params", "D", "test acc", "seconds" }) Assert.Contains(column, train.Out);
        foreach (string name in new[] { "cnn", "mlp", "linear", "cnn-wide" }) Assert.Contains(name, train.Out);
        Assert.Equal(4, PoolManifest.Read(pool).Teachers.Count);

        var n = fixture.Data;
        string Npy(string name, int rows, int cols)
        {
            string path = temp.File($"{name}.npy");
            NpyFile.Write(path, Enumerable.Range(0, rows * cols).Select(i => (float)Math.Sin(i)).ToArray(), rows, cols);
            return path;
        }
        var import = Run("teachers", "import", "--pool", pool, "--name", "ext", "--train-logits", Npy("tl", n.Train.Count, 10),
            "--train-embeddings", Npy("te", n.Train.Count, 3), "--test-logits", Npy("sl", n.Test.Count, 10), "--data", fixture.DataDir);
        Assert.True(import.Code == 0, import.Err);
        Assert.Contains("imported teacher 'ext'", import.Out);
        Assert.True(import.Out.Contains("the test cache holds zeros"), import.Out);

        var cache = Run("teachers", "cache", "--data", fixture.DataDir, "--pool", pool, "--half");
        Assert.True(cache.Code == 0, cache.Err);
        using (var opened = TeacherCache.Open(pool, "train", fixture.Data))
        {
            Assert.Equal(5, opened.Header.K);
            Assert.Equal(MtkdRl.Core.Formats.CacheDType.F16, opened.Header.DType);
        }
        Assert.Contains("cache-test.mtkc", cache.Out);

        var eval = Run("eval", "--data", fixture.DataDir, "--model", Path.Combine(pool, "cnn"), "--detail");
        Assert.True(eval.Code == 0, eval.Err);
        Assert.Matches(@"fashion-mnist/test: accuracy \d+\.\d+ ?% \(\d+/200\)", eval.Out);
        Assert.Contains("Ankle boot", eval.Out);
        var byFile = Run("eval", "--data", fixture.DataDir, "--model", Path.Combine(pool, "mlp.safetensors"));
        Assert.True(byFile.Code == 0, byFile.Err);
        var imported = Run("eval", "--data", fixture.DataDir, "--model", Path.Combine(pool, "ext"));
        Assert.True(imported.Code == 0, imported.Err);
        Assert.Contains("imported teacher 'ext'", imported.Out);
        Assert.Empty(Directory.GetFiles(pool, "*.tmp"));
    }

    /// <summary>A copy of the tiny IDX folder with one file replaced by <paramref name="bytes"/> (gzip-compressed).</summary>
    private static string DamagedData(TempFolder temp, string file, byte[] bytes)
    {
        string dir = temp.Sub("fashion-bad");
        foreach (string f in Directory.GetFiles(TeacherTestDataDir())) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        using (var gz = new GZipStream(File.Create(Path.Combine(dir, file)), CompressionLevel.Fastest)) gz.Write(bytes);
        return dir;
    }

    private static string? _tinyDir;
    private static readonly Lock TinyLock = new();

    private static string TeacherTestDataDir()
    {
        lock (TinyLock)
        {
            _tinyDir ??= TeacherTestData.WriteIdx(TeacherTestData.Tiny, Directory.CreateTempSubdirectory("mtkd-tiny").FullName);
            return _tinyDir;
        }
    }

    private static byte[] IdxHeader(int magicType, params int[] dims)
    {
        var bytes = new byte[4 + 4 * dims.Length];
        bytes[2] = (byte)magicType;
        bytes[3] = (byte)dims.Length;
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i), dims[i]);
        return bytes;
    }

    public static TheoryData<string> DataDamage => ["truncated", "magic", "label"];

    [Theory]
    [MemberData(nameof(DataDamage))]
    public void Bad_dataset_files_fail_in_one_line_naming_the_file_and_write_nothing(string damage)
    {
        using var temp = new TempFolder();
        string file, expected;
        byte[] bytes;
        switch (damage)
        {
            case "truncated":
                file = "train-images-idx3-ubyte.gz";
                // Random bytes do not compress, so the gzip file is large enough to pass the size screen and truncates while reading.
                var noise = new byte[100_000];
                new Random(1).NextBytes(noise);
                bytes = [.. IdxHeader(0x08, 600, 28, 28), .. noise];
                expected = "truncated";
                break;
            case "magic":
                file = "t10k-images-idx3-ubyte.gz";
                bytes = [.. IdxHeader(0x0D, 200, 28, 28), .. new byte[200 * 28 * 28 * 4]];
                expected = "t10k-images-idx3-ubyte.gz";
                break;
            default:
                file = "train-labels-idx1-ubyte.gz";
                bytes = [.. IdxHeader(0x08, 600), .. Enumerable.Repeat((byte)3, 599), 10];
                expected = "label 10 at row 599 is outside 0..9";
                break;
        }
        string dir = DamagedData(temp, file, bytes);
        string pool = Path.Combine(temp.Root, "pool");
        var run = Run("teachers", "train", "--data", dir, "--pool", pool, "--epochs", "1");
        AssertOneLineError(run, expected);
        Assert.Contains(file, run.Err);
        AssertNothingWritten(pool);
    }

    /// <summary>An NPY file with a hand-written header and <paramref name="payload"/> bytes of data.</summary>
    private static string RawNpy(TempFolder temp, string name, string header, int payload)
    {
        string dict = header.PadRight(118) + "\n";
        var bytes = new List<byte>();
        bytes.AddRange([0x93, .. "NUMPY"u8.ToArray(), 1, 0]);
        bytes.AddRange(BitConverter.GetBytes((ushort)dict.Length));
        bytes.AddRange(Encoding.ASCII.GetBytes(dict));
        bytes.AddRange(new byte[payload]);
        string path = temp.File(name);
        File.WriteAllBytes(path, [.. bytes]);
        return path;
    }

    [Theory]
    [InlineData("object", "object dtype")]
    [InlineData("short", "")]
    [InlineData("rows", "train logits have 599 rows, the pool's training split has 600")]
    public void Bad_import_files_fail_in_one_line_naming_the_file(string damage, string expected)
    {
        using var temp = new TempFolder();
        string pool = temp.Sub("pool");
        File.Copy(Path.Combine(fixture.Pool, "pool.json"), Path.Combine(pool, "pool.json"));
        string good(string name, int rows, int cols)
        {
            string path = temp.File(name);
            NpyFile.Write(path, new float[rows * cols], rows, cols);
            return path;
        }
        string bad = damage switch
        {
            "object" => RawNpy(temp, "bad.npy", "{'descr': '|O', 'fortran_order': False, 'shape': (600, 10), }", 600 * 10 * 8),
            "short" => RawNpy(temp, "bad.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (600, 10), }", 100),
            _ => good("bad.npy", 599, 10),
        };
        string manifest = File.ReadAllText(Path.Combine(pool, "pool.json"));
        var run = Run("teachers", "import", "--pool", pool, "--name", "ext", "--train-logits", bad,
            "--train-embeddings", good("te.npy", 600, 4), "--test-logits", good("sl.npy", 200, 10));
        AssertOneLineError(run, expected);
        Assert.Contains(bad, run.Err);
        Assert.Equal(manifest, File.ReadAllText(Path.Combine(pool, "pool.json")));
        Assert.Equal(["pool.json"], Directory.GetFiles(pool).Select(Path.GetFileName));
    }

    /// <summary>A copy of the fixture's cnn checkpoint whose weights file starts with <paramref name="prefix"/> and ends there.</summary>
    private string DamagedCheckpoint(TempFolder temp, byte[] weights)
    {
        string dir = temp.Sub("ckpt");
        File.Copy(Path.Combine(fixture.Pool, "cnn.json"), Path.Combine(dir, "cnn.json"));
        File.WriteAllBytes(Path.Combine(dir, "cnn.safetensors"), weights);
        return Path.Combine(dir, "cnn.safetensors");
    }

    [Fact]
    public void A_recipe_printed_edited_and_given_back_trains_that_pool_and_is_kept_in_it()
    {
        using var temp = new TempFolder();
        var printed = Run("teachers", "recipe", "--preset", "quick");
        Assert.True(printed.Code == 0, printed.Err);
        var recipe = PoolRecipe.Parse(printed.Out, "printed");
        Assert.Equal(["cnn", "mlp", "linear", "cnn-wide"], recipe.Teachers.Select(t => t.Name));

        string file = temp.File("mine.json");
        File.WriteAllText(file, (recipe with { Teachers = [recipe.Teachers[1] with { Name = "my-mlp", Spec = "mlp:16" }] }).ToJson());
        string pool = Path.Combine(temp.Root, "pool");
        var train = Run("teachers", "train", "--data", fixture.DataDir, "--pool", pool, "--recipe", file, "--epochs", "1", "--seed", "4", "--augment", "crop:1");
        Assert.True(train.Code == 0, train.Err);
        Assert.Contains("crop:1", train.Out);
        var teacher = Assert.Single(PoolManifest.Read(pool).Teachers);
        Assert.Equal(("my-mlp", "mlp:16"), (teacher.Name, teacher.Spec));
        var kept = PoolRecipe.Read(Path.Combine(pool, PoolRecipe.FileName));
        var only = Assert.Single(kept.Teachers);
        Assert.Equal(("crop:1", 1, 4001UL), (only.Augment, only.Epochs, only.Seed));
        var config = Checkpoint.ReadConfig(Path.Combine(pool, "my-mlp"));
        Assert.Equal((1, false, 4001UL), (config.Recipe!.CropPadding, config.Recipe.HorizontalFlip, config.Recipe.Seed));

        var again = Run("teachers", "train", "--data", fixture.DataDir, "--pool", pool, "--recipe", Path.Combine(pool, PoolRecipe.FileName));
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("kept (already trained)", again.Out);
    }

    [Fact]
    public void A_safetensors_header_too_long_or_offsets_past_the_end_fail_in_one_line()
    {
        using var temp = new TempFolder();
        var tooLong = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(tooLong, 1UL << 40);
        string path = DamagedCheckpoint(temp, tooLong);
        AssertOneLineError(Run("eval", "--data", fixture.DataDir, "--model", path), $"{path}: header length 1099511627776 is over the");

        using var temp2 = new TempFolder();
        string header = "{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[8,1,3,3],\"data_offsets\":[0,288]}}";
        var bytes = new byte[8 + header.Length + 16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        Encoding.ASCII.GetBytes(header).CopyTo(bytes, 8);
        path = DamagedCheckpoint(temp2, bytes);
        AssertOneLineError(Run("eval", "--data", fixture.DataDir, "--model", path), $"{path}: tensor 'conv1.weight'");
    }

    [Fact]
    public void Images_of_another_size_than_the_models_input_are_refused()
    {
        using var temp = new TempFolder();
        var tiny = fixture.Data;
        LabeledImages Crop(LabeledImages s)
        {
            var pixels = new byte[s.Count * 20 * 20];
            for (int i = 0; i < s.Count; i++)
                for (int y = 0; y < 20; y++) s.Image(i).Slice(y * 28, 20).CopyTo(pixels.AsSpan(i * 400 + y * 20));
            return new LabeledImages(s.Name, 1, 20, 20, pixels, s.Labels, s.ClassNames);
        }
        string dir = TeacherTestData.WriteIdx(new ImageDataset("fashion-mnist", "crop", Crop(tiny.Train), Crop(tiny.Test)), temp.Root, "fashion-crop");
        AssertOneLineError(Run("eval", "--data", dir, "--model", Path.Combine(fixture.Pool, "cnn")),
            "fashion-mnist/test: images are 1x20x20, model cnn (cnn:16x32,fc64) expects 1x28x28");
    }

    [Fact]
    public void Remove_takes_a_teacher_out_and_the_pool_caches_and_distils_with_the_rest()
    {
        using var temp = new TempFolder();
        string pool = temp.Sub("pool");
        foreach (string f in Directory.GetFiles(fixture.Pool).Where(f => !Path.GetFileName(f).StartsWith("cache-") && !Path.GetFileName(f).StartsWith('.')))
            File.Copy(f, Path.Combine(pool, Path.GetFileName(f)));
        var names = PoolManifest.Read(pool).Teachers.Select(t => t.Name).ToList();
        Assert.Equal(2, names.Count);
        File.WriteAllText(Path.Combine(pool, PoolRecipe.FileName), PoolPresets.Text("quick"));  // the preset the fixture took its two teachers from
        Assert.Contains(PoolRecipe.Read(Path.Combine(pool, PoolRecipe.FileName)).Teachers, t => t.Name == names[0]);
        AssertOk(Run("teachers", "cache", "--pool", pool, "--data", fixture.DataDir));

        var run = Run("teachers", "remove", "--pool", pool, "--name", names[0], "--data", fixture.DataDir);
        AssertOk(run);
        Assert.Contains($"removed teacher '{names[0]}'", run.Out);
        Assert.Contains($"next: mtkd teachers cache --pool {pool} --data {fixture.DataDir}", string.Join(" ", run.Out.Split('\n', StringSplitOptions.TrimEntries)), StringComparison.Ordinal);
        Assert.Equal([names[1]], PoolManifest.Read(pool).Teachers.Select(t => t.Name));
        Assert.Empty(Directory.GetFiles(pool, $"{names[0]}.*"));
        Assert.Empty(Directory.GetFiles(pool, "cache-*"));
        Assert.DoesNotContain(PoolRecipe.Read(Path.Combine(pool, PoolRecipe.FileName)).Teachers, t => t.Name == names[0]);

        AssertOk(Run("teachers", "cache", "--pool", pool, "--data", fixture.DataDir));
        using (var cache = TeacherCache.Open(pool, "train")) Assert.Equal(1, cache.Header.K);
        AssertOk(Run("distill", "--data", fixture.DataDir, "--pool", pool, "--strategy", "aver", "--epochs", "1", "--student", "mlp:16", "--batch", "50",
            "--out", temp.Sub("run")));
        AssertOneLineError(Run("teachers", "remove", "--pool", pool, "--name", names[1]), "is the pool's only teacher");
    }

    [Theory]
    [InlineData("teachers train --pool @P --preset huge", "--preset 'huge': unknown preset (known: quick, default, specialists, seg-quick, seg-default, det-quick, det-default)")]
    [InlineData("teachers train --pool @P --preset seg-quick", "teachers train --preset seg-quick: segmentation teachers need --data to be a scenes folder (make one with `mtkd data scenes`)")]
    [InlineData("teachers train --pool @P --epochs -1", "--epochs must be positive")]
    [InlineData("teachers train --pool @P --preset quick --recipe r.json", "teachers train: give --preset or --recipe, not both")]
    [InlineData("teachers train --pool @P --recipe @P/none.json", "none.json: no such file")]
    [InlineData("teachers train --pool @P --augment rotate", "--augment: augmentation 'rotate' is not one of")]
    [InlineData("teachers frob --pool @P", "teachers: unknown action 'frob' (known: train, cache, import, recipe, agreement, remove)")]
    [InlineData("teachers cache --pool @P", "pool.json: no such file (make a pool with `mtkd teachers train --pool")]
    [InlineData("teachers remove --pool @P", "teachers remove: --name is required")]
    [InlineData("teachers remove --pool @P --name x", "pool.json: no such file (make a pool with `mtkd teachers train --pool @P`)")]
    [InlineData("teachers import --pool @P --name x --train-logits a.npy --train-embeddings b.npy", "teachers import: --test-logits is required")]
    [InlineData("teachers cache --pool @P --uncompressed", "teachers cache: --uncompressed, --float32 and --student are for a scenes pool's cache (--data a scenes folder)")]
    [InlineData("eval --model @P/nothing.json", "--model @P/nothing.json: no such file")]
    [InlineData("eval --model @P/nothing", "--model @P/nothing: not a checkpoint (NAME.json or NAME.safetensors) nor a pool teacher (POOL/NAME)")]
    public void Bad_options_fail_in_one_line(string args, string expected)
    {
        using var temp = new TempFolder();
        string pool = Path.Combine(temp.Root, "pool");
        var argv = args.Split(' ').Select(a => a.Replace("@P", pool)).ToList();
        if (argv[0] == "eval" || argv[1] == "cache") argv.AddRange(["--data", fixture.DataDir]);
        AssertOneLineError(Run([.. argv]), expected.Replace("@P", pool));
        AssertNothingWritten(pool);
    }
}
