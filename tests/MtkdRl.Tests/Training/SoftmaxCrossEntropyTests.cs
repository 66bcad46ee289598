using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Tests.Support;
using MtkdRl.Training;

namespace MtkdRl.Tests.Training;

public class SoftmaxCrossEntropyTests
{
    private static double ReferenceLoss(double[] z, int[] y, int C)
    {
        double total = 0;
        int counted = 0;
        for (int b = 0; b < y.Length; b++)
        {
            if (y[b] < 0) continue;
            double max = z.Skip(b * C).Take(C).Max();
            double lse = max + Math.Log(z.Skip(b * C).Take(C).Sum(v => Math.Exp(v - max)));
            total += lse - z[b * C + y[b]];
            counted++;
        }
        return counted == 0 ? 0 : total / counted;
    }

    [Fact]
    public void Loss_and_gradient_match_float64_central_differences_with_ignored_rows()
    {
        var rng = new Random(TestSeeds.Next());
        int B = 6, C = 5;
        var z = GradientCheck.Random(rng, B * C, scale: 3);
        int[] y = [2, -1, 0, 4, -1, 1];
        var g = new float[B * C];
        double loss = SoftmaxCrossEntropy.Compute(z, y, C, g);
        var zd = z.Select(v => (double)v).ToArray();
        Assert.Equal(ReferenceLoss(zd, y, C), loss, 1e-6);
        var numeric = GradientCheck.Numeric(zd, () => ReferenceLoss(zd, y, C));
        Assert.InRange(GradientCheck.RelativeError(g, numeric), 0, 1e-5);
        for (int c = 0; c < C; c++)
        {
            Assert.Equal(0f, g[1 * C + c]);
            Assert.Equal(0f, g[4 * C + c]);
        }
        Assert.Equal(loss, SoftmaxCrossEntropy.Loss(z, y, C), 1e-6);
    }

    [Fact]
    public void Agrees_with_the_distillation_op_cross_entropy_term()
    {
        var rng = new Random(TestSeeds.Next());
        int B = 7, C = 4;
        var z = GradientCheck.Random(rng, B * C, scale: 2);
        int[] y = [0, 3, -1, 1, 2, -1, 3];
        var g = new float[B * C];
        double loss = SoftmaxCrossEntropy.Compute(z, y, C, g);

        var shape = new DistillShape(B, 1, C, 1);
        var zd = z.Select(v => (double)v).ToArray();
        var x = new ReferenceDistill.Inputs64(shape, zd, new double[B * C], new double[B], new double[B], y, new double[B], new double[B]);
        var hyper = new DistillHyper(Temperature: 1f, ACe: 1f, AKd: 0f, Beta: 0f);
        var grads = ReferenceDistill.ComputeGrads(x, ReferenceDistill.ComputeStats(x, hyper), hyper);
        Assert.Equal(grads.Loss, loss, 1e-6);
        Assert.InRange(GradientCheck.RelativeError(g, grads.Dzs), 0, 1e-6);
    }

    [Fact]
    public void Every_row_ignored_gives_zero_loss_and_gradient()
    {
        var g = Enumerable.Repeat(float.NaN, 6).ToArray();
        Assert.Equal(0, SoftmaxCrossEntropy.Compute([1f, 2f, 3f, 4f, 5f, 6f], [-1, -1], 3, g));
        Assert.All(g, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Large_logits_stay_finite_and_scale_applies_to_the_gradient()
    {
        float[] z = [1000f, 0f, -1000f, 50f, 51f, 49f];
        var g = new float[6];
        double loss = SoftmaxCrossEntropy.Compute(z, [2, 1], 3, g, scale: 2f);
        Assert.Equal((2000.0 + ReferenceLoss([50, 51, 49], [1], 3)) / 2, loss, 1e-3);
        Assert.Equal(2f * (1f - 0f) / 2, g[0], 6); // softmax 1 at the max, times scale / B'
        Assert.Equal(-2f / 2, g[2], 6);
        Assert.All(g, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Labels_out_of_range_are_refused_with_the_row()
    {
        var g = new float[6];
        var e = Assert.Throws<MtkdInputException>(() => SoftmaxCrossEntropy.Compute(new float[6], [0, 3], 3, g));
        Assert.Contains("label 3 at row 1", e.Message);
        Assert.Throws<MtkdInputException>(() => SoftmaxCrossEntropy.Compute(new float[6], [-2, 0], 3, g));
        Assert.Throws<MtkdInputException>(() => SoftmaxCrossEntropy.Compute(new float[5], [0, 0], 3, g));
    }

    [Fact]
    public void Accuracy_uses_the_first_maximum_and_skips_ignored_rows()
    {
        float[] z = [1, 3, 3, 0, 0, 5, 2, 2, 2];
        Assert.Equal(1, Accuracy.Argmax(z.AsSpan(0, 3)));
        Assert.Equal(2, Accuracy.CountCorrect(z, [1, 2, -1], 3));
        Assert.Equal(2, Accuracy.CountCorrect(z, [2, 2, 0], 3));
    }
}
