using MtkdRl.Core;
using MtkdRl.Tests.Training;
using MtkdRl.Training;
using Xunit.Sdk;

namespace MtkdRl.Tests.ObjectDetection;

/// <summary>
/// The detector's gradients, both heads and the embedding, against central differences of a float64 reference:
/// the body and heads through <see cref="ReferenceLayers"/>, the head planes laid out as the documented rows
/// (row b * L + l, column c), and the detection loss written out again below from its formula.
/// </summary>
public class DetectorGradientTests
{
    private const int B = 2, C = 2;

    private static Detector Build(string spec, int side = 8) =>
        ModelSpec.Parse(spec).BuildDetector(SampleShape.Image(1, side, side), C, TrainingTestCompute.Shared, new Rng(5));

    [Theory]
    [InlineData("det:3x4", true)]
    [InlineData("det:3x4x4,s2", false)]
    [InlineData("det:3x4,nobn", true)]
    [InlineData("det:3x4,c2", true)]
    [InlineData("det:3x3x4,s2,c3,nobn", false)]
    [InlineData("det:3x4x4,s2,u", true)]
    [InlineData("det:2x3x4,s1,u,h1", false)]
    [InlineData("det:3x4,h1", false)]
    [InlineData("det:3x4x4,s2,u,c2,h2,nobn", true)]
    [InlineData("det:3x4,h1", true)]
    public void Gradients_of_both_heads_and_the_embedding_match_central_differences(string spec, bool training)
    {
        var detector = Build(spec);
        var rng = new Random(11);
        // BatchNorm as training leaves it, not as built: with beta 0 and the running statistics at (0, 1), a location
        // whose whole 3x3 input is ReLU zeros sits exactly on the next ReLU's kink in inference mode, where central
        // differences of a bias see half a slope.
        foreach (var bn in detector.Layers.OfType<BatchNorm>())
            for (int i = 0; i < bn.Bias.Size; i++)
            {
                bn.Weight.Value[i] = (float)(0.5 + rng.NextDouble());
                bn.Bias.Value[i] = (float)(rng.NextDouble() - 0.5);
                bn.RunningMean.Value[i] = (float)(rng.NextDouble() - 0.5);
                bn.RunningVar.Value[i] = (float)(0.5 + rng.NextDouble());
            }
        int L = detector.Locations, K = detector.ClassColumns, D = detector.EmbeddingWidth;
        var x = GradientCheck.Random(rng, B * detector.InputShape.Size);
        // Labels: one positive location per image, with box targets near the outputs' scale.
        var labels = new int[B * L];
        labels[1] = 1;
        labels[L + L - 1] = 2;
        var targets = GradientCheck.Random(rng, B * L * 4);
        var q = GradientCheck.Random(rng, B * D);

        var running = detector.Layers.OfType<BatchNorm>().ToDictionary(bn => (Layer)bn, ReferenceLayers.Running);
        detector.Forward(x, B, training);
        var gradClass = new float[B * L * K];
        var gradBox = new float[B * L * 4];
        var loss = DetectionLoss.Compute(detector.ClassLogits, detector.BoxOutputs, labels, targets, K, gradClass, gradBox);
        detector.Backward(gradClass, gradBox, q);

        var p = ReferenceLayers.CopyParameters(detector.Parameters);
        var xd = x.Select(v => (double)v).ToArray();
        double Reference()
        {
            var (a, _) = ReferenceLayers.Forward(detector.Body, xd, B, p, training, running);
            var c = a;
            foreach (var layer in detector.ClassTower) c = ReferenceLayers.Forward(layer, c, B, p, training, running.GetValueOrDefault(layer));
            var cls = Rows(ReferenceLayers.Forward(detector.ClassHead, c, B, p, training, null), L, K);
            var box = Rows(ReferenceLayers.Forward(detector.BoxHead, a, B, p, training, null), L, 4);
            double embeddingTerm = 0;
            for (int b = 0; b < B; b++)
                for (int d = 0; d < D; d++)
                {
                    double mean = 0;
                    for (int l = 0; l < L; l++) mean += a[(b * D + d) * L + l];
                    embeddingTerm += q[b * D + d] * mean / L;
                }
            return ReferenceLoss(cls, box, labels, targets, K) + embeddingTerm;
        }

        Assert.Equal(ReferenceLoss(Rows(Planes(detector.ClassLogits, L, K), L, K), Rows(Planes(detector.BoxOutputs, L, 4), L, 4), labels, targets, K),
            loss.Total, 5);
        double floor = GradientCheck.ModelFloor(detector.Parameters);
        foreach (var param in detector.Parameters)
        {
            double error = GradientCheck.Error(param.Grad, p[param], Reference, floor);
            if (!(error <= 1e-3)) throw new XunitException($"{spec}: gradient of {param.Name} is off by {error:E2}");
        }
        Assert.Contains(detector.Parameters, param => param.Name == "cls.weight");
        Assert.Contains(detector.Parameters, param => param.Name == "box.weight");
    }

    [Fact]
    public void Class_logits_are_location_rows_of_the_class_head_planes()
    {
        var detector = Build("det:3x4");
        var x = GradientCheck.Random(new Random(2), B * detector.InputShape.Size);
        detector.Forward(x, B, training: false);
        int L = detector.Locations, K = detector.ClassColumns;
        Assert.Equal((4, 4, 16, 3), (detector.GridWidth, detector.GridHeight, L, K));
        var p = ReferenceLayers.CopyParameters(detector.Parameters);
        var a = x.Select(v => (double)v).ToArray();
        var running = detector.Layers.OfType<BatchNorm>().ToDictionary(bn => (Layer)bn, ReferenceLayers.Running);
        (a, _) = ReferenceLayers.Forward(detector.Body, a, B, p, false, running);
        var planes = ReferenceLayers.Forward(detector.ClassHead, a, B, p, false, null);
        // Image 1, location (x 2, y 3), class column 2.
        int row = 1 * L + 3 * 4 + 2;
        Assert.Equal(planes[(1 * K + 2) * L + 3 * 4 + 2], detector.ClassLogits[row * K + 2], 4);
        Assert.Equal(B * detector.EmbeddingWidth, detector.Embedding.Length);
    }

    [Fact]
    public void Spec_text_and_shapes()
    {
        Assert.Equal("det:16x32x64", ModelSpec.Parse("det:16x32x64").ToString());
        Assert.Equal("det:8x16x16,s2,nobn", ModelSpec.Parse("det:8x16x16,nobn,s2").ToString());
        Assert.Equal("det:8x16", ModelSpec.Parse("det:8x16,s2").ToString());
        Assert.Equal("det:8x16x16,s2,nobn,c2", ModelSpec.Parse("det:8x16x16,c2,nobn,s2").ToString());
        Assert.Equal("det:8x16", ModelSpec.Parse("det:8x16,c1").ToString());
        var depth = Assert.Throws<MtkdInputException>(() => ModelSpec.Parse("det:8x16,c9"));
        Assert.Equal("model spec 'det:8x16,c9': convolutions per stage 'c9' must be c followed by 1 to 4, e.g. c2", depth.Message);
        var deep = ModelSpec.Parse("det:4x8,c2").BuildDetector(SampleShape.Image(1, 8, 8), 2, TrainingTestCompute.Shared, new Rng(1));
        Assert.Equal(["conv1", "bn1", "relu1", "conv1b", "bn1b", "relu1b", "pool1", "conv2", "bn2", "relu2", "conv2b", "bn2b", "relu2b"],
            deep.Body.Layers.Select(l => l.Name));
        Assert.Equal("det:8x16x16,s2,u,h2,nobn", ModelSpec.Parse("det:8x16x16,h2,nobn,u,s2").ToString());
        Assert.Equal("det:8x16x16,s2,u", ModelSpec.Parse("det:8x16x16,u,s2,h0").ToString());
        // u: a pool before every stage after the first, then decoder steps back to the stride; h: blocks before the class head.
        var unet = ModelSpec.Parse("det:4x8x16,s2,u,h1").BuildDetector(SampleShape.Image(1, 16, 16), 2, TrainingTestCompute.Shared, new Rng(1));
        Assert.Equal(["conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2", "conv3", "bn3", "relu3", "dec2_up", "dec2_conv", "dec2_bn", "dec2_relu"],
            unet.Body.Layers.Select(l => l.Name));
        Assert.Equal(["cls_tower_conv", "cls_tower_bn", "cls_tower_relu"], unet.ClassTower.Select(l => l.Name));
        Assert.Equal((2, 8, 8, 8), (unet.Stride, unet.GridWidth, unet.GridHeight, unet.EmbeddingWidth));
        var noDecoder = Assert.Throws<MtkdInputException>(() => ModelSpec.Parse("det:8x16x16,u"));
        Assert.Equal("model spec 'det:8x16x16,u': u decodes back to the output stride, which must then be below the bottleneck's 4 (2^(stages-1)): add sN, e.g. s2", noDecoder.Message);
        var head = Assert.Throws<MtkdInputException>(() => ModelSpec.Parse("det:8x16,h5"));
        Assert.Equal("model spec 'det:8x16,h5': class-head blocks 'h5' must be h followed by 0 to 4, e.g. h1", head.Message);
        var coarse = Assert.Throws<MtkdInputException>(() => ModelSpec.Parse("det:4x4x4,s2,u").BuildDetector(SampleShape.Image(1, 6, 6), 3, TrainingTestCompute.Shared, new Rng(1)));
        Assert.Equal("detector 'det:4x4x4,s2,u': its encoder halves the image 2 times, so images of 6x6 must be multiples of 4", coarse.Message);
        var e = Assert.Throws<MtkdInputException>(() => ModelSpec.Parse("det:8x16,s4"));
        Assert.Equal("model spec 'det:8x16,s4': output stride 's4' must be a power of two from 1 to 2 (2^(stages-1)), e.g. s4", e.Message);
        var detector = ModelSpec.Parse("det:16x32x64x64").BuildDetector(SampleShape.Image(1, 64, 64), 10, TrainingTestCompute.Shared, new Rng(1));
        Assert.Equal((8, 8, 8, 11, 64), (detector.Stride, detector.GridWidth, detector.GridHeight, detector.ClassColumns, detector.EmbeddingWidth));
        var classifier = Assert.Throws<MtkdInputException>(() => ModelSpec.Parse("det:8").Build(SampleShape.Image(1, 8, 8), 3, TrainingTestCompute.Shared, new Rng(1)));
        Assert.Contains("a det spec is a detector", classifier.Message);
        var odd = Assert.Throws<MtkdInputException>(() => ModelSpec.Parse("det:4x4").BuildDetector(SampleShape.Image(1, 9, 9), 3, TrainingTestCompute.Shared, new Rng(1)));
        Assert.Equal("detector 'det:4x4': images of 9x9 are not a multiple of its output stride 2", odd.Message);
    }

    private static double[] Planes(ReadOnlySpan<float> rows, int L, int K)
    {
        var planes = new double[B * K * L];
        for (int b = 0; b < B; b++)
            for (int l = 0; l < L; l++)
                for (int c = 0; c < K; c++) planes[(b * K + c) * L + l] = rows[(b * L + l) * K + c];
        return planes;
    }

    /// <summary>[B, K, L] planes to [B * L, K] rows: row b * L + l, column c.</summary>
    private static double[] Rows(double[] planes, int L, int K)
    {
        var rows = new double[B * L * K];
        for (int b = 0; b < B; b++)
            for (int c = 0; c < K; c++)
                for (int l = 0; l < L; l++) rows[(b * L + l) * K + c] = planes[(b * K + c) * L + l];
        return rows;
    }

    /// <summary>(1/N) sum CE + (1/P) sum smoothL1, in float64.</summary>
    private static double ReferenceLoss(double[] cls, double[] box, int[] labels, float[] targets, int K)
    {
        int N = labels.Length, P = labels.Count(y => y > 0);
        double ce = 0, l1 = 0;
        for (int l = 0; l < N; l++)
        {
            double lse = Math.Log(Enumerable.Range(0, K).Sum(c => Math.Exp(cls[l * K + c])));
            ce += lse - cls[l * K + labels[l]];
            if (labels[l] == 0) continue;
            for (int j = 0; j < 4; j++)
            {
                double d = box[l * 4 + j] - targets[l * 4 + j];
                l1 += Math.Abs(d) < DetectionLoss.Beta ? d * d / (2 * DetectionLoss.Beta) : Math.Abs(d) - DetectionLoss.Beta / 2;
            }
        }
        return ce / N + DetectionLoss.BoxWeight * l1 / Math.Max(P, 1);
    }
}
