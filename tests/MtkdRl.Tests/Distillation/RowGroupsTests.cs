using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Distillation;
using MtkdRl.Strategies;
using MtkdRl.Tests.Training;
using MtkdRl.Training;
using Xunit;

namespace MtkdRl.Tests.Distillation;

public sealed class RowGroupsTests
{
    // Six rows from three images, not contiguous: rows 1 and 4 are image 0, rows 0, 2, 5 image 1, row 3 image 2.
    private static readonly int[] SampleOfRow = [1, 0, 1, 2, 0, 1];

    [Fact]
    public void Rows_are_grouped_by_sample_and_the_identity_is_one_row_per_sample()
    {
        var rows = RowGroups.FromSampleOfRow(SampleOfRow, 3);
        Assert.Equal(6, rows.Rows);
        Assert.Equal(3, rows.Samples);
        Assert.False(rows.IsIdentity);
        Assert.Equal([1, 4], rows.RowsOf(0).ToArray());
        Assert.Equal([0, 2, 5], rows.RowsOf(1).ToArray());
        Assert.Equal([3], rows.RowsOf(2).ToArray());
        var identity = RowGroups.Identity(4);
        Assert.True(identity.IsIdentity);
        for (int r = 0; r < 4; r++) Assert.Equal([r], identity.RowsOf(r).ToArray());
        Assert.True(RowGroups.FromSampleOfRow([0, 1, 2], 3).IsIdentity);
    }

    [Fact]
    public void Mean_per_sample_skips_ignored_rows_and_matches_a_float64_reference()
    {
        var rows = RowGroups.FromSampleOfRow(SampleOfRow, 3);
        var random = new Random(11);
        const int width = 3;
        var values = Enumerable.Range(0, 6 * width).Select(_ => (float)(10 * random.NextDouble() - 5)).ToArray();
        int[] labels = [2, 0, -1, -1, 1, 1]; // row 2 of image 1 and the only row of image 2 are ignored
        var got = new float[3 * width];
        rows.MeanPerSample(values, width, labels, got);
        for (int j = 0; j < width; j++)
        {
            Assert.Equal(((double)values[1 * width + j] + values[4 * width + j]) / 2, got[0 * width + j], 6);
            Assert.Equal(((double)values[0 * width + j] + values[5 * width + j]) / 2, got[1 * width + j], 6);
            Assert.Equal(0f, got[2 * width + j]);
        }
    }

    [Fact]
    public void A_map_naming_a_missing_sample_or_of_the_wrong_size_is_refused()
    {
        var e = Assert.Throws<MtkdInputException>(() => RowGroups.FromSampleOfRow([0, 3, 1], 3));
        Assert.Contains("row 1 names sample 3", e.Message);
        var rng = new Rng(1);
        var input = SampleShape.Image(1, 3, 5);
        var student = ModelSpec.Parse("mlp:8", "student").Build(input, 4, TrainingTestCompute.Shared, rng);
        var heads = new ProjectionHeads(student.EmbeddingWidth, [5, 3], TrainingTestCompute.Shared, rng);
        var wrong = Assert.Throws<MtkdInputException>(() =>
            new DistillStep(student, heads, BackendCatalog.Create("reference"), 6, 4, DistillHyper.Default, RowGroups.FromSampleOfRow([0, 1], 2)));
        Assert.Contains("2 rows, a step takes 6", wrong.Message);
    }

    /// <summary>Decides per image: every row of an image gets softmax over teachers of minus the image's mean KL.</summary>
    private sealed class PerImageStrategy(int k) : IWeightingStrategy
    {
        public string Name => "test-per-image";
        public int K { get; } = k;
        public bool IsAgent => false;
        public bool UsesTeachers => true;
        public bool NeedsStats => true;
        public bool NeedsTeacherOutputs => false;
        public bool NeedsProbeLoss => false;
        public RowGroups? Seen;

        public void Weights(in WeightingContext context, Span<float> wl, Span<float> wf)
        {
            var rows = Seen = context.Rows;
            var perImage = new float[rows.Samples * K];
            rows.MeanPerSample(context.Stats.Kl, K, context.Labels, perImage);
            for (int s = 0; s < rows.Samples; s++)
            {
                var w = new float[K];
                double sum = 0;
                for (int j = 0; j < K; j++) sum += w[j] = MathF.Exp(-perImage[s * K + j]);
                foreach (int r in rows.RowsOf(s))
                    for (int j = 0; j < K; j++) wl[r * K + j] = wf[r * K + j] = (float)(w[j] / sum);
            }
        }

        public AgentUpdateLog? Learn(in LearnFeedback feedback) => null;
        public AgentUpdateLog? EndEpoch() => null;
        public StrategyState Export() => new(Name);
        public void Import(StrategyState state) { }
    }

    [Fact]
    public void A_per_image_strategy_sees_the_steps_rows_grouped_by_image()
    {
        const int b = 6, c = 4;
        int[] widths = [5, 3];
        var rng = new Rng(3);
        var input = SampleShape.Image(1, 3, 5);
        var student = ModelSpec.Parse("mlp:8", "student").Build(input, c, TrainingTestCompute.Shared, rng);
        var heads = new ProjectionHeads(student.EmbeddingWidth, widths, TrainingTestCompute.Shared, rng);
        var map = RowGroups.FromSampleOfRow(SampleOfRow, 3);
        using var step = new DistillStep(student, heads, BackendCatalog.Create("reference"), b, c, DistillHyper.Default, map);
        var random = new Random(5);
        for (int i = 0; i < step.TeacherLogits.Length; i++) step.TeacherLogits[i] = (float)(4 * random.NextDouble() - 2);
        for (int i = 0; i < step.TeacherEmbeddings.Length; i++) step.TeacherEmbeddings[i] = (float)(random.NextDouble() - 0.5);
        var x = Enumerable.Range(0, b * input.Size).Select(_ => (float)random.NextDouble()).ToArray();
        int[] y = [0, 3, -1, 1, 2, 1];
        var strategy = new PerImageStrategy(2);
        var wl = new float[b * 2];
        var wf = new float[b * 2];

        var stats = step.Forward(x, y);
        strategy.Weights(step.ContextFor(strategy, y), wl, wf);
        step.Backward(wl, wf);

        Assert.Same(map, strategy.Seen);
        Assert.Same(map, step.FeedbackFor(y, 1f, double.NaN, double.NaN).Rows);
        for (int s = 0; s < 3; s++)
        {
            // Float64 reference: the image's counted rows' mean KL per teacher, then softmax of its negative.
            var counted = Enumerable.Range(0, b).Where(r => SampleOfRow[r] == s && y[r] >= 0).ToList();
            var mean = Enumerable.Range(0, 2).Select(j => counted.Count == 0 ? 0 : counted.Average(r => (double)stats.Kl[r * 2 + j])).ToArray();
            double z = mean.Sum(v => Math.Exp(-v));
            foreach (int r in Enumerable.Range(0, b).Where(r => SampleOfRow[r] == s))
                for (int j = 0; j < 2; j++) Assert.Equal(Math.Exp(-mean[j]) / z, wl[r * 2 + j], 5);
        }
        Assert.NotEqual(wl[0 * 2], wl[1 * 2]); // rows 0 and 1 belong to different images
    }
}
