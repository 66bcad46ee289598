using MtkdRl.Core;
using MtkdRl.Tests.Support;
using MtkdRl.Training;

namespace MtkdRl.Tests.Training;

/// <summary>Per-pixel cross-entropy with ignore value 255 against a float64 loop over the channel-major maps.</summary>
public class PixelCrossEntropyTests
{
    [Fact]
    public void Loss_and_gradient_match_float64_with_ignored_pixels()
    {
        int seed = TestSeeds.Next();
        var rng = new Random(seed);
        const int B = 3, C = 4, P = 6;
        var z = GradientCheck.Random(rng, B * C * P, scale: 3);
        var mask = new byte[B * P];
        for (int i = 0; i < mask.Length; i++) mask[i] = rng.Next(4) == 0 ? (byte)255 : (byte)rng.Next(C);
        mask[0] = 255; mask[1] = 2;

        double total = 0;
        int valid = 0;
        var want = new double[B * C * P];
        for (int b = 0; b < B; b++)
            for (int p = 0; p < P; p++)
            {
                int y = mask[b * P + p];
                if (y == 255) continue;
                valid++;
                double m = double.NegativeInfinity;
                for (int c = 0; c < C; c++) m = Math.Max(m, z[(b * C + c) * P + p]);
                double s = 0;
                for (int c = 0; c < C; c++) s += Math.Exp(z[(b * C + c) * P + p] - m);
                total += Math.Log(s) + m - z[(b * C + y) * P + p];
                for (int c = 0; c < C; c++) want[(b * C + c) * P + p] = Math.Exp(z[(b * C + c) * P + p] - m) / s - (c == y ? 1 : 0);
            }
        for (int i = 0; i < want.Length; i++) want[i] /= valid;

        var loss = new PixelCrossEntropy(C, P);
        var grad = Enumerable.Repeat(float.NaN, B * C * P).ToArray();
        double got = loss.Compute(z, mask, B, grad);
        Assert.True(Math.Abs(got - total / valid) <= 1e-6 * Math.Max(1, total / valid), $"seed {seed}: loss {got} vs {total / valid}");
        Assert.True(GradientCheck.RelativeError(grad, want) <= 1e-5, $"seed {seed}: gradient");
        for (int c = 0; c < C; c++) Assert.Equal(0f, grad[c * P]); // pixel 0 of image 0 is ignored
    }

    [Fact]
    public void All_ignored_gives_zero_and_a_bad_label_is_one_line()
    {
        var loss = new PixelCrossEntropy(3, 2);
        var grad = new float[6];
        Array.Fill(grad, 1f);
        Assert.Equal(0, loss.Compute(new float[6], [255, 255], 1, grad));
        Assert.All(grad, g => Assert.Equal(0f, g));
        var e = Assert.Throws<MtkdInputException>(() => loss.Compute(new float[6], [1, 7], 1, grad));
        Assert.Contains("value 7 at pixel 1", e.Message);
    }

    [Fact]
    public void Rows_round_trip_through_the_channel_major_layout()
    {
        var maps = Enumerable.Range(0, 2 * 3 * 5).Select(i => (float)i).ToArray();
        var rows = new float[maps.Length];
        PixelRows.ToRows(maps, 2, 3, 5, rows);
        Assert.Equal(maps[(1 * 3 + 2) * 5 + 4], rows[(1 * 5 + 4) * 3 + 2]);
        var back = new float[maps.Length];
        PixelRows.FromRows(rows, 2, 3, 5, back);
        Assert.Equal(maps, back);
    }
}
