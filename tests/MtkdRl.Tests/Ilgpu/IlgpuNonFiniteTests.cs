using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using Xunit;

namespace MtkdRl.Tests.Ilgpu;

/// <summary>
/// On ILGPU's CPU accelerator a NaN would spin the emulated float atomics of the gradient and fused passes
/// forever; those passes must refuse such a batch at once with the one-line diagnosis instead.
/// </summary>
public sealed class IlgpuNonFiniteTests
{
    [Trait("Category", "Slow")]
    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void Gradient_and_fused_passes_refuse_a_non_finite_teacher_row_naming_it(float bad)
    {
        var shape = new DistillShape(4, 3, 5, 2);
        var x = new DistillInputs(shape);
        var r = new Random(3);
        foreach (var a in new[] { x.Zs, x.Zt, x.Fs, x.Ft }) for (int i = 0; i < a.Length; i++) a[i] = (float)r.NextDouble();
        Array.Fill(x.Wl, 0.5f);
        Array.Fill(x.Wf, 0.5f);
        x.Zt[(1 * shape.B + 2) * shape.C + 3] = bad;  // teacher 1, row 2
        using var backend = BackendCatalog.Create("ilgpu-cpu");
        using var session = backend.CreateSession(shape);
        session.Upload(x);
        var fused = Assert.Throws<MtkdInputException>(() => session.Fused(DistillHyper.Default));
        Assert.Equal("teacher 1, row 2: teacher logits contain NaN or Inf", fused.Message);
        session.Stats(DistillHyper.Default);
        var gradient = Assert.Throws<MtkdInputException>(() => session.Gradient(DistillHyper.Default));
        Assert.Contains("teacher 1, row 2", gradient.Message);
    }
}
