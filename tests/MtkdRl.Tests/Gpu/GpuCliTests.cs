using System.Text.Json;
using MtkdRl.Cli;
using MtkdRl.Gpu;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Teachers;
using static MtkdRl.Tests.Cli.CliRun;

namespace MtkdRl.Tests.Gpu;

/// <summary>
/// What the CLI says about CUDA on a machine without it (the reason, and one line when a CUDA backend is asked
/// for), and `mtkd selfcheck`, the entry point the GPU check script runs.
/// </summary>
[Collection("console")]
public class GpuCliTests
{
    private static string RequireNoCuda()
    {
        var cuda = GpuRuntime.ProbeCuda();
        Skip.If(cuda.Available, "a CUDA device is present: there is no missing-CUDA message to check");
        Assert.False(string.IsNullOrWhiteSpace(cuda.Detail));
        return cuda.Detail;
    }

    [SkippableFact]
    public void Info_says_why_cuda_is_unavailable()
    {
        string reason = RequireNoCuda();
        var (code, output, err) = Run("info");
        Assert.True(code == 0, err);
        var lines = output.Split('\n');
        // The device line and every CUDA backend's line carry the probe's reason (cells may wrap, so check the start).
        string start = reason[..Math.Min(30, reason.Length)];
        Assert.Contains(lines, l => l.Contains("device 0", StringComparison.Ordinal) && l.Contains("none: " + start, StringComparison.Ordinal));
        foreach (var backend in new[] { "cuda", "ilgpu-cuda" })
            Assert.Contains(lines, l => l.Contains($" {backend} ", StringComparison.Ordinal) && l.Contains("no: " + start, StringComparison.Ordinal));
    }

    [SkippableTheory]
    [InlineData("distill", "cuda")]
    [InlineData("distill", "ilgpu-cuda")]
    [InlineData("compare", "cuda")]
    [InlineData("compare", "ilgpu-cuda")]
    public void A_cuda_backend_without_cuda_fails_with_one_line_naming_it_and_the_reason(string verb, string backend)
    {
        string reason = RequireNoCuda();
        using var folder = new TempFolder();
        string data = TeacherTestData.WriteIdx(TeacherTestData.Tiny, folder.Root);
        var run = Run(verb, "--data", data, "--pool", Path.Combine(folder.Root, "pool"), "--backend", backend, "--out", Path.Combine(folder.Root, "run"));
        AssertOneLineError(run, $"backend '{backend}' is unavailable: {reason}");
        Assert.False(Directory.Exists(Path.Combine(folder.Root, "run")), "a run folder was created before the backend was known to work");
    }

    [SkippableTheory]
    [InlineData("cuda")]
    [InlineData("ilgpu-cuda")]
    public void Bench_of_a_named_cuda_backend_without_cuda_fails_with_one_line(string backend)
    {
        string reason = RequireNoCuda();
        AssertOneLineError(Run("bench", "kernels", "--backend", backend, "--shape", "4,2,10,3", "--repeat", "1"),
            $"backend '{backend}' is unavailable: {reason}");
    }

    [SkippableFact]
    public void Selfcheck_of_a_missing_cuda_backend_fails_and_says_why()
    {
        string reason = RequireNoCuda();
        var (code, output, _) = Run("selfcheck", "--backend", "cuda");
        Assert.Equal(CliHost.UserError, code);
        Assert.Contains("selfcheck: 1 of 1 checks FAILED", output);
        Assert.Contains(reason[..Math.Min(30, reason.Length)], output);
    }

    [Fact]
    public void Selfcheck_of_cpu_backends_passes_and_writes_every_result()
    {
        using var folder = new TempFolder();
        string json = Path.Combine(folder.Root, "selfcheck.json");
        var (code, output, err) = Run("selfcheck", "--backend", "reference,native", "--shape", "9,4,20,8;3,1,5,2", "--small", "--seed", "7", "--json", json);
        Assert.True(code == 0, $"{err}\n{output}");
        Assert.Contains("seed 7", output);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var results = doc.RootElement.EnumerateArray().ToList();
        // Per backend: one per shape, then ragged, near one-hot, all ignored, non-finite.
        Assert.Equal(12, results.Count);
        Assert.All(results, r => Assert.True(r.GetProperty("passed").GetBoolean(), r.GetProperty("detail").GetString()));
        Assert.Equal(["random", "random", "ragged", "near", "every", "non-finite"],
            results.Take(6).Select(r => r.GetProperty("name").GetString()!.Split(' ')[0]));
    }

    [Fact]
    public void Selfcheck_of_an_unknown_backend_is_one_line()
    {
        AssertOneLineError(Run("selfcheck", "--backend", "reference,nosuch"), "unknown backend 'nosuch'");
    }
}
