using MtkdRl.Backends;

namespace MtkdRl.Tests.Cli;

/// <summary>The shapes `mtkd bench kernels` times when none is given.</summary>
public class BenchShapesTests
{
    [Fact]
    public void The_default_kernel_shapes_include_the_dense_shape_of_16_images_of_64x64_pixels()
    {
        var shapes = BenchShapes.ParseAll([], BenchShapes.KernelDefaults);
        var dense = Assert.Single(shapes, s => s.C == 11);
        Assert.Equal(16 * 64 * 64, dense.B);
        Assert.Equal(4, dense.K);
        Assert.Equal(BenchShapes.Parse(BenchShapes.DenseKernelShape).ToString(), dense.ToString());
        Assert.Equal(5, shapes.Count); // the four row shapes stay
    }
}
