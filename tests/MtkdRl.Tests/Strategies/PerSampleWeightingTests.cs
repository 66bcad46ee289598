using MtkdRl.Core.Distill;
using MtkdRl.Distillation;
using MtkdRl.Strategies;

namespace MtkdRl.Tests.Strategies;

/// <summary>
/// Teacher weights per image on dense batches: the rows of one image get the inner strategy's weights on the image's
/// mean statistics over its valid rows, an image without a valid row gets zeros, the identity map passes through.
/// </summary>
public sealed class PerSampleWeightingTests
{
    private const int K = 3, C = 5, D = 2;

    // Two images of four pixel rows; the rows of image 1 come in reverse order among image 0's, so the map is not contiguous.
    private static readonly int[] SampleOfRow = [0, 1, 0, 1, 0, 1, 0, 1];

    /// <summary>Random statistics, logits and embeddings on 2 images x 4 rows; each image's embedding in each of its rows, as the dense step writes it.</summary>
    private static (DistillStats Stats, float[] Ft, float[] Zt) Batch(int seed)
    {
        int b = SampleOfRow.Length;
        var random = new Random(seed);
        var stats = new DistillStats(new DistillShape(b, K, C, D));
        foreach (var (_, data) in stats.Named())
            for (int i = 0; i < data.Length; i++) data[i] = (float)(3 * random.NextDouble());
        var zt = Enumerable.Range(0, K * b * C).Select(_ => (float)(4 * random.NextDouble() - 2)).ToArray();
        int f = K * D;
        var perImage = Enumerable.Range(0, 2 * f).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var ft = new float[b * f];
        for (int r = 0; r < b; r++) perImage.AsSpan(SampleOfRow[r] * f, f).CopyTo(ft.AsSpan(r * f, f));
        return (stats, ft, zt);
    }

    private static (float[] Wl, float[] Wf) Weigh(IWeightingStrategy strategy, DistillStats stats, int[] labels, float[]? ft = null, float[]? zt = null,
        RowGroups? rows = null)
    {
        int n = stats.Shape.B * K;
        var wl = new float[n];
        var wf = new float[n];
        strategy.Weights(new WeightingContext(stats, labels, ft ?? [], zt ?? [], rows ?? Groups), wl, wf);
        return (wl, wf);
    }

    private static RowGroups Groups => RowGroups.FromSampleOfRow(SampleOfRow, 2);

    private static float[] RowOf(float[] w, int r) => w.AsSpan(r * K, K).ToArray();

    [Fact]
    public void Ca_mkd_gives_every_row_of_an_image_its_weights_on_the_mean_teacher_cross_entropy_of_the_valid_rows()
    {
        var (stats, _, _) = Batch(5);
        int[] labels = [1, 2, -1, 2, 3, -1, 1, 0]; // image 0: rows 0, 4, 6 valid; image 1: rows 1, 3, 7 valid
        var (wl, wf) = Weigh(new PerSampleWeighting(StrategyCatalog.Create("ca-mkd", K)), stats, labels);

        for (int image = 0; image < 2; image++)
        {
            var valid = Enumerable.Range(0, SampleOfRow.Length).Where(r => SampleOfRow[r] == image && labels[r] >= 0).ToArray();
            var mean = Enumerable.Range(0, K).Select(k => valid.Average(r => (double)stats.CeT[r * K + k])).ToArray();
            var e = mean.Select(Math.Exp).ToArray();
            for (int r = 0; r < SampleOfRow.Length; r++)
            {
                if (SampleOfRow[r] != image) continue;
                for (int k = 0; k < K; k++)
                {
                    double expected = (1 - e[k] / e.Sum()) / (K - 1);
                    Assert.Equal(expected, wl[r * K + k], 6);
                    Assert.Equal(wl[r * K + k], wf[r * K + k]);
                }
                Assert.Equal(RowOf(wl, valid[0]), RowOf(wl, r));
            }
        }
        // Per pixel (the catalog's strategy alone) the rows of an image differ on these statistics.
        var (perPixel, _) = Weigh(StrategyCatalog.Create("ca-mkd", K), stats, labels);
        Assert.NotEqual(RowOf(perPixel, 0), RowOf(perPixel, 4));
    }

    /// <summary>Records what it was given and answers a distinct weight row per sample.</summary>
    private sealed class Recorder : IWeightingStrategy
    {
        public string Name => "recorder";
        public int K => PerSampleWeightingTests.K;
        public bool IsAgent => true;
        public bool UsesTeachers => true;
        public bool NeedsStats => true;
        public bool NeedsTeacherOutputs => true;
        public bool NeedsProbeLoss => false;
        public DistillStats? Stats, Learned;
        public int[] Labels = [], LearnedLabels = [];
        public float[] Ft = [], Zt = [];
        public bool IdentityRows;

        public void Weights(in WeightingContext context, Span<float> wl, Span<float> wf)
        {
            Stats = new DistillStats(context.Stats.Shape);
            context.Stats.CopyTo(Stats);
            Labels = context.Labels.ToArray();
            Ft = context.TeacherEmbeddings.ToArray();
            Zt = context.TeacherLogits.ToArray();
            IdentityRows = context.Rows.IsIdentity;
            for (int i = 0; i < context.Stats.Shape.B * K; i++) { wl[i] = i + 1; wf[i] = -(i + 1); }
        }

        public AgentUpdateLog? Learn(in LearnFeedback feedback)
        {
            Learned = new DistillStats(feedback.Stats.Shape);
            feedback.Stats.CopyTo(Learned);
            LearnedLabels = feedback.Labels.ToArray();
            return null;
        }

        public AgentUpdateLog? EndEpoch() => null;
        public StrategyState Export() => new(Name);
        public void Import(StrategyState state) { }
    }

    [Fact]
    public void The_inner_strategy_sees_each_image_once_with_float64_means_of_its_valid_rows_and_the_image_label()
    {
        var (stats, ft, zt) = Batch(9);
        int[] labels = [2, 4, -1, 4, 3, 1, 2, -1]; // image 0 valid rows 0, 4, 6 (labels 2, 3, 2); image 1 rows 1, 3, 5 (4, 4, 1)
        var inner = new Recorder();
        var strategy = new PerSampleWeighting(inner);
        var (wl, wf) = Weigh(strategy, stats, labels, ft, zt);
        strategy.Learn(new LearnFeedback(stats, labels, rows: Groups));

        Assert.True(inner.IdentityRows);
        Assert.Equal([2, 4], inner.Labels);
        Assert.Equal([2, 4], inner.LearnedLabels);
        int b = SampleOfRow.Length, f = K * D;
        int[][] valid = [[0, 4, 6], [1, 3, 5]];
        foreach (var (received, name) in new[] { (inner.Stats!, "weights"), (inner.Learned!, "learn") })
        {
            Assert.Equal(2, received.Shape.B);
            foreach (var ((field, rowsData), (_, imageData)) in stats.Named().Zip(received.Named()))
            {
                int width = rowsData.Length / b;
                for (int s = 0; s < 2; s++)
                    for (int j = 0; j < width; j++)
                        Assert.True(Math.Abs(valid[s].Average(r => (double)rowsData[r * width + j]) - imageData[s * width + j]) < 1e-6, $"{name} {field}[{s},{j}]");
            }
        }
        for (int k = 0; k < K; k++)
            for (int s = 0; s < 2; s++)
                for (int c = 0; c < C; c++)
                    Assert.Equal(valid[s].Average(r => (double)zt[(k * b + r) * C + c]), inner.Zt[(k * 2 + s) * C + c], 6);
        Assert.Equal(ft.AsSpan(0, f).ToArray(), inner.Ft.AsSpan(0, f).ToArray());
        Assert.Equal(ft.AsSpan(f, f).ToArray(), inner.Ft.AsSpan(f, f).ToArray());
        for (int r = 0; r < b; r++)
            for (int k = 0; k < K; k++)
            {
                Assert.Equal(SampleOfRow[r] * K + k + 1, wl[r * K + k]);
                Assert.Equal(-(SampleOfRow[r] * K + k + 1), wf[r * K + k]);
            }
    }

    /// <summary>
    /// The dense step gives its images' embeddings once per image ([S,F], embeddingsPerSample); the paper agent, per
    /// image and per pixel, must choose exactly what it chooses when each image's embedding is written to every row.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Embeddings_given_per_image_weigh_as_embeddings_on_every_row(bool perImage)
    {
        var (stats, ft, zt) = Batch(13);
        int[] labels = [2, 4, -1, 4, 3, 1, 2, -1];
        int f = K * D;
        var images = new float[2 * f];
        ft.AsSpan(0, f).CopyTo(images.AsSpan(0, f)); // row 0 is image 0's
        ft.AsSpan(f, f).CopyTo(images.AsSpan(f, f)); // row 1 is image 1's
        IWeightingStrategy Create()
        {
            var agent = StrategyCatalog.Create(PaperAgent.CatalogName, K, new StrategyOptions { Classes = C, EmbeddingWidths = [D, D, D] });
            agent.EndEpoch(); // past the first epoch's fixed weights, so the network's output is compared
            return perImage ? new PerSampleWeighting(agent) : agent;
        }
        int n = SampleOfRow.Length * K;
        var (spreadWl, spreadWf) = Weigh(Create(), stats, labels, ft, zt);
        var wl = new float[n];
        var wf = new float[n];
        Create().Weights(new WeightingContext(stats, labels, images, zt, Groups, embeddingsPerSample: true), wl, wf);
        Assert.Equal(spreadWl, wl);
        Assert.Equal(spreadWf, wf);
        // The embeddings do reach the weights: other embeddings give other weights.
        images[0] += 1f;
        Create().Weights(new WeightingContext(stats, labels, images, zt, Groups, embeddingsPerSample: true), wl, wf);
        Assert.NotEqual(spreadWl, wl);
    }

    [Theory]
    [InlineData("ca-mkd")]
    [InlineData("ebkd")]
    [InlineData("mtkd-rl-ppo")]
    public void With_the_identity_map_the_weights_and_the_state_are_the_inner_strategys_bit_for_bit(string name)
    {
        var (stats, _, _) = Batch(3);
        int[] labels = [1, 2, -1, 2, 3, -1, 1, 0];
        var identity = RowGroups.Identity(SampleOfRow.Length);
        var bare = StrategyCatalog.Create(name, K);
        var wrapped = new PerSampleWeighting(StrategyCatalog.Create(name, K));
        for (int step = 0; step < 3; step++)
        {
            var expected = Weigh(bare, stats, labels, rows: identity);
            var actual = Weigh(wrapped, stats, labels, rows: identity);
            Assert.Equal(expected.Wl, actual.Wl);
            Assert.Equal(expected.Wf, actual.Wf);
            bare.Learn(new LearnFeedback(stats, labels));
            wrapped.Learn(new LearnFeedback(stats, labels));
        }
        Assert.Equal(StrategyStateBytes(bare), StrategyStateBytes(wrapped));
    }

    private static string StrategyStateBytes(IWeightingStrategy s) => System.Text.Json.JsonSerializer.Serialize(s.Export());

    [Theory]
    [InlineData("ca-mkd")]
    [InlineData("ebkd")]
    [InlineData("mtkd-rl-ppo")]
    public void An_image_with_only_ignored_pixels_gets_zero_weights_and_nothing_is_nan(string name)
    {
        var (stats, _, _) = Batch(7);
        int[] labels = [1, -1, -1, -1, 3, -1, 1, -1]; // image 1 (odd rows) has no valid pixel
        for (int r = 1; r < SampleOfRow.Length; r += 2)
            for (int k = 0; k < K; k++) stats.CeT[r * K + k] = stats.Hit[r * K + k] = 0; // as the op leaves ignored rows
        var strategy = new PerSampleWeighting(StrategyCatalog.Create(name, K));
        for (int step = 0; step < 3; step++)
        {
            var (wl, wf) = Weigh(strategy, stats, labels);
            Assert.All(wl.Concat(wf), w => Assert.True(float.IsFinite(w)));
            for (int r = 1; r < SampleOfRow.Length; r += 2)
            {
                Assert.Equal(new float[K], RowOf(wl, r));
                Assert.Equal(new float[K], RowOf(wf, r));
            }
            Assert.Contains(wl, w => w != 0);
            strategy.Learn(new LearnFeedback(stats, labels, rows: Groups));
        }
        Assert.DoesNotContain("NaN", StrategyStateBytes(strategy));
    }

    [Theory]
    [InlineData("ca-mkd")]
    [InlineData("mtkd-rl-ppo")]
    public void Per_pixel_weights_are_the_catalog_strategys_own_and_per_image_is_the_dense_default(string name)
    {
        var (stats, _, _) = Batch(11);
        int[] labels = [1, 2, -1, 2, 3, -1, 1, 0];
        var recipe = new DistillRecipe { Strategy = name };
        var perPixel = DenseDistillLoop.Weighting(recipe with { PerPixelWeights = true }, K, C, [D, D, D]);
        var perImage = DenseDistillLoop.Weighting(recipe, K, C, [D, D, D]);
        var bare = StrategyCatalog.Create(name, K, recipe.StrategyOptions(C, [D, D, D]));
        Assert.IsType<PerSampleWeighting>(perImage);
        var expected = Weigh(bare, stats, labels);
        var actual = Weigh(perPixel, stats, labels);
        Assert.Equal(expected.Wl, actual.Wl);
        Assert.Equal(expected.Wf, actual.Wf);
        Assert.NotEqual(expected.Wl, Weigh(perImage, stats, labels).Wl);
    }
}
