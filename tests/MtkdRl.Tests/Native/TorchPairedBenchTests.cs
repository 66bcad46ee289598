using System.Diagnostics;
using System.Text.Json;
using MtkdRl.Core.Distill;
using MtkdRl.Tests.Data;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Native;

/// <summary>
/// `benchmarks/torch_distill.py --paired`, which times the native op through its C API in the same process as the
/// PyTorch step (benchmarks/mtkd_native.py): the binding must hand the op the very tensors PyTorch differentiates, so
/// the native gradients agree with autograd's on row and dense shapes and every loss; its bytes per pass are those of
/// <see cref="DistillTraffic"/> (the bench's), and a library it cannot load is a one-line error. Skipped where no python3
/// imports torch (CI does not install it).
/// </summary>
public class TorchPairedBenchTests
{
    // The first python3 that imports torch (the one on PATH, then Debian's, which is where python3-torch installs),
    // probed once for the class.
    private static readonly Lazy<string?> PythonWithTorch = new(() =>
    {
        foreach (string python in new[] { "python3", "/usr/bin/python3" })
        {
            if (!python.StartsWith('/') && !ExternalProcess.OnPath(python)) continue;
            try
            {
                if (ExternalProcess.Run(new ProcessStartInfo(python, ["-c", "import torch"]), TimeSpan.FromMinutes(1)).Exit == 0)
                    return python;
            }
            catch (System.ComponentModel.Win32Exception)
            {
            }
        }
        return null;
    });

    private static (int Exit, string Stdout, string Stderr) RunScript(params string[] args)
    {
        string? python = PythonWithTorch.Value;
        Skip.If(python is null, "no python3 here imports torch");
        var start = new ProcessStartInfo(python!, [Path.Combine(RepositoryPaths.Root, "benchmarks", "torch_distill.py"), .. args])
        {
            WorkingDirectory = RepositoryPaths.Root,
        };
        return ExternalProcess.Run(start, TimeSpan.FromMinutes(3));
    }

    private static string NativeLibrary()
    {
        string lib = Path.Combine(AppContext.BaseDirectory, "libmtkd_native.so");
        Skip.IfNot(File.Exists(lib), $"{lib} is missing (not a Linux build)");
        return lib;
    }

    [SkippableTheory]
    [InlineData("kl", "mse")]
    [InlineData("reverse-kl", "mse")]
    [InlineData("jsd:0.3", "mse")]
    [InlineData("dkd:1,8", "smooth-l1")]
    [InlineData("kl", "cosine")]
    public void The_native_gradients_agree_with_autograd_on_row_and_dense_shapes(string kdLoss, string featureLoss)
    {
        string lib = NativeLibrary();
        string json = Path.Combine(Directory.CreateTempSubdirectory("mtkd-paired").FullName, "paired.json");
        var (exit, stdout, stderr) = RunScript("--paired", lib, "--threads", "1", "--repeat", "2", "--warmup", "1",
            "--launches", "1", "--shape", "37,3,11,5", "24,4,13,6/3", "--kd-loss", kdLoss, "--feature-loss", featureLoss,
            "--json", json);
        Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{stderr}");
        var records = JsonDocument.Parse(File.ReadAllText(json)).RootElement.EnumerateArray().ToArray();
        Assert.Equal(2, records.Length);
        Assert.Equal([0, 3], records.Select(r => r.GetProperty("images").GetInt32()));
        // The passes' minimum bytes, as `mtkd bench kernels` counts them: the row shape, then the dense step's two sessions.
        var rowShape = new DistillShape(37, 11, [5, 5, 5]);
        var dense = new[] { DenseStepSessions.PixelShape(24, 13, 4, featureless: true), DenseStepSessions.ImageShape(3, [6, 6, 6, 6]) };
        long[] twoPassBytes =
        [
            DistillTraffic.MinimumBytes(rowShape, DistillPass.Stats) + DistillTraffic.MinimumBytes(rowShape, DistillPass.Gradient),
            dense.Sum(s => DistillTraffic.MinimumBytes(s, DistillPass.Stats) + DistillTraffic.MinimumBytes(s, DistillPass.Gradient)),
        ];
        long[] fusedBytes = [DistillTraffic.MinimumBytes(rowShape, DistillPass.Fused), dense.Sum(s => DistillTraffic.MinimumBytes(s, DistillPass.Fused))];
        foreach (var (r, i) in records.Select((r, i) => (r, i)))
        {
            double copy = r.GetProperty("copy_gbps").GetDouble();
            Assert.True(copy > 0);
            Assert.Equal(twoPassBytes[i], r.GetProperty("two_pass_at_copy_ms").GetDouble() * copy * 1e6, 1e-6 * twoPassBytes[i]);
            Assert.Equal(fusedBytes[i], r.GetProperty("fused_at_copy_ms").GetDouble() * copy * 1e6, 1e-6 * fusedBytes[i]);
            Assert.InRange(r.GetProperty("gradient_rel_err").GetDouble(), 0.0, 1e-4);
            Assert.True(r.GetProperty("two_pass_ms").GetDouble() > 0 && r.GetProperty("fused_ms").GetDouble() > 0);
            Assert.True(r.GetProperty("two_pass_speedup").GetDouble() > 0);
            Assert.Equal(2, r.GetProperty("rounds").GetInt32());
        }
    }

    [SkippableFact]
    public void A_library_that_cannot_be_loaded_is_a_one_line_error_naming_it()
    {
        string missing = Path.Combine(Path.GetTempPath(), "mtkd-no-such-library.so");
        var (exit, stdout, stderr) = RunScript("--paired", missing, "--repeat", "1", "--shape", "37,3,11,5");
        Assert.NotEqual(0, exit);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(missing, line);
        Assert.DoesNotContain("Traceback", stderr + stdout);
    }
}
