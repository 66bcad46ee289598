using System.Diagnostics;
using MtkdRl.Gpu.Cuda;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Gpu;

/// <summary>
/// tests/gpu/variants.sh, which compares PTX builds on a GPU during a loan, rehearsed on the CPU with the emulator
/// backend (which runs the emulator library and so ignores the PTX folders): the plumbing per folder, the results
/// files and the table of ratios, and the refusal of a folder without PTX, so a broken script does not cost GPU time.
/// </summary>
public class GpuVariantsScriptTests
{
    private static (int Exit, string Stdout, string Stderr) RunScript(string variants, string output, params string[] names)
    {
        string cli = GpuScripts.EmulatedCli();
        var start = new ProcessStartInfo("bash", [GpuScripts.Script("variants.sh"), .. names]) { WorkingDirectory = RepositoryPaths.Root };
        start.Environment["VARIANTS"] = variants;
        start.Environment["OUT"] = output;
        start.Environment["MTKD"] = $"dotnet {cli}";
        start.Environment["BACKEND"] = "cuda-emu";
        start.Environment["SHAPES"] = "6,4,11,16";
        start.Environment["SELFCHECK_SHAPES"] = "8,3,40,16";
        start.Environment["BENCH_ARGS"] = "--repeat 2 --warmup 0 --max-seconds 1";
        return ExternalProcess.Run(start, TimeSpan.FromMinutes(6));
    }

    private static string VariantFolders(params string[] names)
    {
        string root = Directory.CreateTempSubdirectory("mtkd-variants").FullName;
        foreach (var name in names)
        {
            Directory.CreateDirectory(Path.Combine(root, name));
            File.WriteAllText(Path.Combine(root, name, "distill.ptx"), PtxResources.Text("distill"));
        }
        return root;
    }

    [Trait("Category", "Slow")]
    [SkippableFact]
    public void Every_variant_is_self_checked_and_timed_and_the_table_divides_by_the_first()
    {
        string variants = VariantFolders("base", "other");
        string output = Directory.CreateTempSubdirectory("mtkd-variants-out").FullName;
        var (exit, stdout, stderr) = RunScript(variants, output, "other", "base");
        Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{stderr}");

        foreach (var name in new[] { "base", "other" })
        {
            var checks = File.ReadAllLines(Path.Combine(output, $"{name}.selfcheck.jsonl")).Where(l => l.Length > 0).ToArray();
            Assert.NotEmpty(checks);
            Assert.All(checks, l => Assert.Contains("\"passed\":true", l));
            Assert.Equal(3, File.ReadAllLines(Path.Combine(output, $"{name}.bench.jsonl")).Count(l => l.Length > 0));
        }
        string table = File.ReadAllText(Path.Combine(output, "variants.md"));
        int passed = File.ReadAllLines(Path.Combine(output, "other.selfcheck.jsonl")).Count(l => l.Length > 0);
        Assert.Contains($"| other | {passed} of {passed} |", table);
        // The names given on the command line set the order: "other" first, so it is the baseline of the ratios.
        Assert.Contains("| B,K,C,D | pass | other ms (of copy, x other) | base ms (of copy, x other) |", table);
        foreach (var pass in new[] { "stats", "gradient", "fused" })
        {
            var row = table.Split('\n').Single(l => l.StartsWith($"| 6,4,11,16 | {pass} |", StringComparison.Ordinal));
            var cells = row.Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains("1.00x", cells[2]);
            Assert.Matches(@"^\d+\.\d{4} \(\d+\.\d%, \d+\.\d\dx\)$", cells[3]);
        }
    }

    [SkippableFact]
    public void A_folder_without_ptx_is_refused_by_name_before_anything_runs()
    {
        string variants = VariantFolders("good");
        Directory.CreateDirectory(Path.Combine(variants, "empty"));
        string output = Directory.CreateTempSubdirectory("mtkd-variants-out").FullName;
        var (exit, stdout, stderr) = RunScript(variants, output, "good", "empty");
        Assert.Equal(2, exit);
        Assert.Contains($"{Path.Combine(variants, "empty")} holds no .ptx file", stderr);
        Assert.False(File.Exists(Path.Combine(output, "good.bench.jsonl")), stdout);
    }
}
