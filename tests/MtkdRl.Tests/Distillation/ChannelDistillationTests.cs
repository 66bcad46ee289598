using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Distillation;
using MtkdRl.Tests.Training;
using MtkdRl.Training;

namespace MtkdRl.Tests.Distillation;

/// <summary>
/// Channel-wise KD (`--channel-kd`): each image's class channels as distributions over the pixels, written here in
/// float64 from the definition (softmax over the pixels at tau, KL from each teacher, the image's weight the mean of
/// its valid pixels' weights, lambda tau^2 / (N' (C+1))); the op's loss and gradient against it on every CPU
/// backend, the gradient also against central differences of that float64 loss, and the dense step's loss with the
/// term against the step without it plus the term.
/// </summary>
public sealed class ChannelDistillationTests
{
    private const int N = 3, C = 4, P = 13, K = 2;
    private const float Lambda = 0.7f, Tau = 3f;

    private sealed record Case(float[] Zs, float[] Zt, int[] Labels, float[] Wl);

    /// <summary>Pixel rows; image 2 has no valid pixel, the others some ignored ones.</summary>
    private static Case Random(int seed)
    {
        var random = new Random(seed);
        float[] Gaussian(int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)(scale * random.NextGaussian())).ToArray();
        var labels = Enumerable.Range(0, N * P).Select(r => r / P == 2 || r % 4 == 1 ? -1 : random.Next(C)).ToArray();
        return new Case(Gaussian(N * P * C, 2), Gaussian(K * N * P * C, 3), labels,
            Enumerable.Range(0, N * P * K).Select(_ => (float)random.NextDouble()).ToArray());
    }

    /// <summary>The term's loss in float64 from its definition, at the student rows <paramref name="zs"/>.</summary>
    private static double ReferenceLoss(Case c, double[] zs)
    {
        var valid = Enumerable.Range(0, N).Where(n => Enumerable.Range(0, P).Any(p => c.Labels[n * P + p] >= 0)).ToArray();
        double sum = 0;
        foreach (int n in valid)
        {
            var pixels = Enumerable.Range(0, P).Where(p => c.Labels[n * P + p] >= 0).ToArray();
            for (int ch = 0; ch < C; ch++)
            {
                var s = Softmax(Enumerable.Range(0, P).Select(p => zs[(n * P + p) * C + ch]));
                for (int k = 0; k < K; k++)
                {
                    double w = pixels.Average(p => (double)c.Wl[(n * P + p) * K + k]);
                    var t = Softmax(Enumerable.Range(0, P).Select(p => (double)c.Zt[(k * N * P + n * P + p) * C + ch]));
                    double kl = 0;
                    for (int p = 0; p < P; p++) kl += t[p] * (Math.Log(t[p]) - Math.Log(s[p]));
                    sum += w * Tau * Tau * kl;
                }
            }
        }
        return Lambda * sum / (valid.Length * C);
    }

    private static double[] Softmax(IEnumerable<double> logits)
    {
        var z = logits.Select(v => v / Tau).ToArray();
        double max = z.Max(), total = z.Sum(v => Math.Exp(v - max));
        return z.Select(v => Math.Exp(v - max) / total).ToArray();
    }

    [Theory]
    [InlineData("reference")]
    [InlineData("native")]
    [InlineData("native-scalar")]
    [InlineData("ilgpu-cpu")]
    public void Loss_and_gradient_match_the_definition_in_float64(string backend)
    {
        var c = Random(1);
        using var term = new ChannelDistillation(BackendCatalog.Create(backend), N, C, P, K, DistillHyper.Default, Lambda, Tau);
        var start = Enumerable.Range(0, N * P * C).Select(i => 0.01f * (i % 7)).ToArray();
        var dzs = start.ToArray();
        term.Run(c.Zs, c.Zt, c.Labels, c.Wl, dzs);

        double want = ReferenceLoss(c, c.Zs.Select(v => (double)v).ToArray());
        Assert.True(Math.Abs(term.Loss - want) <= 1e-5 * Math.Max(1, want), $"{backend}: loss {term.Loss}, float64 {want}");
        // dL/dzs[n,p,c] = lambda tau / (N' C) sum_k w[n,k] (s - t_k): central differences of the float64 loss.
        var zs = c.Zs.Select(v => (double)v).ToArray();
        const double h = 1e-4;
        for (int i = 0; i < zs.Length; i++)
        {
            double keep = zs[i];
            zs[i] = keep + h;
            double up = ReferenceLoss(c, zs);
            zs[i] = keep - h;
            double down = ReferenceLoss(c, zs);
            zs[i] = keep;
            double fd = (up - down) / (2 * h), got = dzs[i] - start[i];
            Assert.True(Math.Abs(got - fd) <= 1e-6 + 1e-3 * Math.Abs(fd), $"{backend}: dzs[{i}] added {got}, central difference {fd}");
            if (i / P / C == 2) Assert.Equal(start[i], dzs[i]); // an image without valid pixels adds nothing
        }
    }

    [Fact]
    public void Every_image_weight_is_the_mean_over_its_valid_pixels()
    {
        // Weights that differ only on ignored pixels change nothing; on valid ones they do.
        var c = Random(2);
        using var term = new ChannelDistillation(BackendCatalog.Create("reference"), N, C, P, K, DistillHyper.Default, Lambda, Tau);
        term.Run(c.Zs, c.Zt, c.Labels, c.Wl, new float[N * P * C]);
        double loss = term.Loss;
        var onIgnored = c.Wl.ToArray();
        for (int r = 0; r < N * P; r++)
            if (c.Labels[r] < 0) onIgnored[r * K] += 5f;
        term.Run(c.Zs, c.Zt, c.Labels, onIgnored, new float[N * P * C]);
        Assert.Equal(loss, term.Loss, 12);
        var onValid = c.Wl.ToArray();
        onValid[0 * K] += 5f; // pixel 0 of image 0 is valid (0 % 4 != 1)
        term.Run(c.Zs, c.Zt, c.Labels, onValid, new float[N * P * C]);
        Assert.True(term.Loss > loss + 1e-3, $"a heavier valid pixel weight moved the loss from {loss} to {term.Loss} only");
    }

    [Theory]
    [InlineData("native")]
    [InlineData("reference")]
    public void The_dense_step_adds_the_term_to_its_loss_and_gradients(string backend)
    {
        const int images = 2, classes = 3;
        var input = SampleShape.Image(1, 4, 4);
        int widths = 2, pixels = input.Plane;
        var random = new Random(5);
        var x = Enumerable.Range(0, images * input.Size).Select(_ => (float)random.NextGaussian()).ToArray();
        var maps = Enumerable.Range(0, widths * images * classes * pixels).Select(_ => (float)(2 * random.NextGaussian())).ToArray();
        var embeddings = Enumerable.Range(0, images * 5).Select(_ => (float)random.NextGaussian()).ToArray();
        var masks = Enumerable.Range(0, images * pixels).Select(i => i % 3 == 0 ? (byte)255 : (byte)random.Next(classes)).ToArray();
        var wl = Enumerable.Range(0, images * pixels * widths).Select(_ => (float)random.NextDouble()).ToArray();
        var wf = wl.Reverse().ToArray();

        (double Loss, float[] Grad, float[] Logits) Run((float, float)? channel)
        {
            var rng = new Rng(3);
            var student = ModelSpec.Parse("unet:2x3", "student").BuildSegmentation(input, classes, TrainingTestCompute.Shared, rng);
            var heads = new ProjectionHeads(student.EmbeddingWidth, [3, 2], TrainingTestCompute.Shared, rng);
            using var step = new DenseDistillStep(student, heads, BackendCatalog.Create(backend), images, DistillHyper.Default, channel);
            for (int k = 0; k < widths; k++) step.SetTeacherLogits(k, maps.AsSpan(k * images * classes * pixels, images * classes * pixels));
            step.SetTeacherEmbeddings(embeddings);
            step.RunFused(x, masks, wl, wf);
            return (step.Loss, student.Parameters.First(p => p.Name.EndsWith("conv.weight")).Grad.ToArray(), student.Logits.ToArray());
        }

        var plain = Run(null);
        var with = Run((Lambda, Tau));
        // The term alone, on the same student logits and teacher maps, as pixel rows.
        var zs = new float[images * pixels * classes];
        PixelRows.ToRows(plain.Logits, images, classes, pixels, zs);
        var zt = new float[widths * zs.Length];
        for (int k = 0; k < widths; k++)
            PixelRows.ToRows(maps.AsSpan(k * zs.Length, zs.Length), images, classes, pixels, zt.AsSpan(k * zs.Length, zs.Length));
        var labels = masks.Select(m => m == 255 ? -1 : (int)m).ToArray();
        using var term = new ChannelDistillation(BackendCatalog.Create(backend), images, classes, pixels, widths, DistillHyper.Default, Lambda, Tau);
        term.Run(zs, zt, labels, wl, new float[zs.Length]);
        Assert.True(term.Loss > 1e-3, "the term is not negligible here");
        Assert.True(Math.Abs(with.Loss - (plain.Loss + term.Loss)) <= 1e-5 * with.Loss, $"step with the term {with.Loss}, without {plain.Loss} + term {term.Loss}");
        Assert.NotEqual(plain.Grad, with.Grad);
    }
}
