using System.Text.RegularExpressions;
using MtkdRl.Gpu.Cuda;

namespace MtkdRl.Tests.Cuda;

/// <summary>The PTX embedded at build time: one module per kernels/*.cu, well formed, and holding every kernel
/// the launcher names with the parameter list the launcher packs.</summary>
public class PtxModuleTests
{
    [Fact]
    public void Every_kernel_file_is_embedded_as_a_ptx_module()
    {
        var sources = Directory.GetFiles(Path.Combine(RepositoryRoot(), "kernels"), "*.cu")
            .Select(f => Path.GetFileNameWithoutExtension(f.AsSpan()).ToString()).Order(StringComparer.Ordinal).ToArray();
        Assert.NotEmpty(sources);
        Assert.Equal(sources, PtxResources.Modules);
    }

    public static TheoryData<string> Modules() => new(PtxResources.Modules);

    [Theory]
    [MemberData(nameof(Modules))]
    public void Module_declares_version_target_and_64_bit_addresses(string module)
    {
        var text = PtxResources.Text(module);
        Assert.Matches(new Regex(@"^\.version \d+\.\d+\s*$", RegexOptions.Multiline), text);
        Assert.Matches(new Regex(@"^\.target sm_80\b", RegexOptions.Multiline), text);
        Assert.Matches(new Regex(@"^\.address_size 64\s*$", RegexOptions.Multiline), text);
        Assert.NotEqual("unknown compiler", PtxResources.Producer(module));
    }

    [Fact]
    public void Every_launched_kernel_has_an_entry_with_the_launchers_parameters()
    {
        foreach (var kernel in DistillKernels.All.Concat(CatalogKernels.All).Concat(SelftestKernels.InPtx))
        {
            var types = EntryParameterTypes(PtxResources.Text(kernel.Module), kernel.Name);
            Assert.True(types is not null, $"{kernel.Module}.ptx has no .entry {kernel.Name}");
            var expected = kernel.Parameters.Select(p => p switch
            {
                KernelParameter.Pointer => "u64",
                KernelParameter.Int32 => "u32",
                _ => "f32",
            });
            Assert.Equal(expected, types!.Select(t => t is "s32" or "b32" ? "u32" : t is "b64" ? "u64" : t));
        }
    }

    [Fact]
    public void Distill_kernels_are_bounded_to_the_launchers_block_size()
    {
        var text = PtxResources.Text("distill");
        foreach (var kernel in DistillKernels.All)
        {
            var entry = Regex.Match(text, @"\.entry\s+" + kernel.Name + @"\s*\([^)]*\)\s*(?<directives>[^{]*)\{");
            Assert.True(entry.Success, kernel.Name);
            Assert.Contains($".maxntid {DistillKernels.MaxWarps * DistillKernels.WarpSize}, 1, 1", entry.Groups["directives"].Value);
            // Blocks per SM as measured fastest on the H200 (docs/PERF.md, section GPU): four for the stats passes and
            // the short fused pass, three for the fused pass (44 KiB of shared memory at C = 1000 fits them all).
            if (kernel == DistillKernels.Stats || kernel == DistillKernels.FusedShort)
                Assert.Contains(".minnctapersm 4", entry.Groups["directives"].Value);
            if (kernel == DistillKernels.Fused)
                Assert.Contains(".minnctapersm 3", entry.Groups["directives"].Value);
        }
    }

    [Fact]
    public void The_fused_kernel_copies_teacher_rows_asynchronously_and_adds_without_atomics()
    {
        var body = EntryBody(PtxResources.Text("distill"), DistillKernels.Fused.Name);
        Assert.Contains("cp.async.cg.shared.global", body);
        Assert.Contains("cp.async.wait_all", body);
        Assert.DoesNotContain("\tatom.", body);
        Assert.DoesNotContain("\tred.", body);
        // The short fused pass adds into its group's own row: no atomics there either.
        Assert.DoesNotContain("\tatom.", EntryBody(PtxResources.Text("distill"), DistillKernels.FusedShort.Name));
    }

    private static string EntryBody(string text, string name)
    {
        int start = text.IndexOf(".entry " + name + "(", StringComparison.Ordinal);
        Assert.True(start >= 0, name);
        int end = text.IndexOf(".entry ", start + 7, StringComparison.Ordinal);
        return end < 0 ? text[start..] : text[start..end];
    }

    [Fact]
    public void Emulator_only_kernels_stay_out_of_the_ptx()
    {
        Assert.Null(EntryParameterTypes(PtxResources.Text("selftest"), SelftestKernels.DivergentBarrier.Name));
    }

    [Fact]
    public void Driver_image_is_the_text_with_a_terminating_nul()
    {
        var image = PtxResources.Image("distill");
        Assert.Equal(0, image[^1]);
        Assert.Equal(PtxResources.Text("distill"), System.Text.Encoding.UTF8.GetString(image, 0, image.Length - 1));
        Assert.DoesNotContain((byte)0, image[..^1]);
    }

    /// <summary>The PTX types of an entry's parameters in order, or null when there is no such entry.</summary>
    private static string[]? EntryParameterTypes(string ptx, string name)
    {
        var entry = Regex.Match(ptx, @"\.entry\s+" + Regex.Escape(name) + @"\s*\((?<params>[^)]*)\)");
        if (!entry.Success) return null;
        return Regex.Matches(entry.Groups["params"].Value, @"\.param\s+\.(?<type>[a-z0-9]+)\s").Select(m => m.Groups["type"].Value).ToArray();
    }

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MtkdRl.Native.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no MtkdRl.Native.sln above {AppContext.BaseDirectory}");
    }
}
