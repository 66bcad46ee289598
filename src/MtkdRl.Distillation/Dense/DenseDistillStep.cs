using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Strategies;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>
/// One distillation step of a dense student (<see cref="IDenseStudent"/>: a segmentation network, a row per pixel, or
/// a detector, a row per output location) on a batch of N images of P rows each, over the same fused op as
/// classification: B = N*P rows, row n*P + p is row p of image n, C = the C+1 logits per row, and ignored rows
/// (a mask's 255 pixels) are -1 rows, so the KL at T, the cross-entropy and the statistics are
/// per pixel and averaged over the valid pixels (times T^2 for the KL, as the op defines it).
/// <para>
/// The feature term is per image: each image's projected embedding (the heads on the pooled bottleneck) and each
/// teacher's image embedding are written to every row of the image, so the op's per-row feature loss averaged
/// over the valid rows is the per-image term weighted by the image's share of valid pixels, and the rows'
/// feature gradients are summed back per image before the heads' backward.
/// </para>
/// <para>
/// <see cref="Rows"/> maps each pixel row to its image: a per-image strategy (the paper's agent) aggregates its
/// image's valid-pixel statistics through it and writes one weight per image to all of its rows; a per-row
/// strategy weighs every pixel on its own.
/// </para>
/// </summary>
public sealed class DenseDistillStep : OpStep
{
    private readonly IDenseStudent _student;
    private readonly float[] _fsImages, _dfsImages;

    public DenseDistillStep(SegmentationModel student, ProjectionHeads heads, IDistillBackend backend, int images, DistillHyper hyper)
        : this(new SegmentationRows(student), heads, backend, images, hyper)
    {
    }

    public DenseDistillStep(IDenseStudent student, ProjectionHeads heads, IDistillBackend backend, int images, DistillHyper hyper)
        : base(backend, new DistillShape(PixelRowCount(student, heads, images), student.Columns, heads.Widths), hyper)
    {
        if (heads.StudentWidth != student.EmbeddingWidth)
            throw new MtkdInputException($"projection heads read {heads.StudentWidth} features, student '{student.Spec}' embeds {student.EmbeddingWidth}");
        _student = student;
        Heads = heads;
        Images = images;
        Pixels = student.RowsPerImage;
        int rows = Shape.B;
        var sampleOfRow = new int[rows];
        for (int r = 0; r < rows; r++) sampleOfRow[r] = r / Pixels;
        Rows = RowGroups.FromSampleOfRow(sampleOfRow, images);
        _fsImages = new float[images * heads.F];
        _dfsImages = new float[images * heads.F];
    }

    private static int PixelRowCount(IDenseStudent student, ProjectionHeads heads, int images)
    {
        if (images < 1) throw new MtkdInputException($"a dense step needs at least one image (got {images})");
        long rows = (long)images * student.RowsPerImage;
        if (rows * Math.Max(student.Columns, heads.F) > Array.MaxLength)
            throw new MtkdInputException($"{images} images of {student.RowsPerImage} rows are too many rows for one step");
        return (int)rows;
    }

    /// <summary>N: images per step.</summary>
    public int Images { get; }

    /// <summary>P: rows per image (pixels, or a detector's locations).</summary>
    public int Pixels { get; }

    /// <summary>Pixel row to image.</summary>
    public RowGroups Rows { get; }

    public ProjectionHeads Heads { get; }

    public IEnumerable<Parameter> Parameters => _student.Parameters.Concat(Heads.Parameters);

    /// <summary>Row labels of the last step: the class per row (0 = background), -1 for ignored rows.</summary>
    public ReadOnlySpan<int> Labels => Inputs.Y;

    /// <summary>Teacher k's logit maps for the batch, [N, C+1, P] as a segmentation network gives them, into zt's pixel rows.</summary>
    public void SetTeacherLogits(int teacher, ReadOnlySpan<float> maps)
    {
        if ((uint)teacher >= (uint)Shape.K) throw new ArgumentOutOfRangeException(nameof(teacher));
        PixelRows.ToRows(maps, Images, Shape.C, Pixels, TeacherRows(teacher));
    }

    /// <summary>Teacher k's logit rows [B, C] in zt, to be written by the caller.</summary>
    public Span<float> TeacherRows(int teacher)
    {
        if ((uint)teacher >= (uint)Shape.K) throw new ArgumentOutOfRangeException(nameof(teacher));
        long block = (long)Shape.B * Shape.C;
        return Inputs.Zt.AsSpan((int)(teacher * block), (int)block);
    }

    /// <summary>Every teacher's logit rows [K, B, C] in zt (teacher-major, as <see cref="TeacherRows"/> gives them one by one), to be written by the caller.</summary>
    public Span<float> AllTeacherRows => Inputs.Zt.AsSpan(0, Shape.K * Shape.B * Shape.C);

    /// <summary>The teachers' image embeddings [N, F] (teacher k's D_k columns at its offset), copied to every row of each image.</summary>
    public void SetTeacherEmbeddings(ReadOnlySpan<float> perImage)
    {
        int f = Heads.F;
        if (perImage.Length != Images * f) throw new MtkdInputException($"teacher embeddings hold {perImage.Length} values, {Images} images x F = {f} need {Images * f}");
        Spread(perImage, Inputs.Ft);
    }

    public WeightingContext ContextFor(IWeightingStrategy strategy) =>
        strategy.NeedsTeacherOutputs
            ? new WeightingContext(StatsBuffer, Inputs.Y, Inputs.Ft, Inputs.Zt, Rows)
            : new WeightingContext(StatsBuffer, Inputs.Y, rows: Rows);

    public LearnFeedback FeedbackFor(float beta, double probeLossBefore, double probeLossAfter) =>
        new(StatsBuffer, Inputs.Y, beta, probeLossBefore, probeLossAfter, Rows);

    /// <summary>Student forward, heads, upload, stats pass on images x [N, Ch, H, W] and masks [N, H, W] (a segmentation student).</summary>
    public DistillStats Forward(ReadOnlySpan<float> x, ReadOnlySpan<byte> masks)
    {
        PrepareInputs(x, masks);
        return StatsPass();
    }

    /// <summary>Student forward, heads, upload, stats pass on images and row labels [N * P] (-1 = ignored).</summary>
    public DistillStats Forward(ReadOnlySpan<float> x, ReadOnlySpan<int> labels)
    {
        PrepareInputs(x, labels);
        return StatsPass();
    }

    /// <summary>The whole step in one sweep of the op, for weights known before the batch.</summary>
    public DistillStats RunFused(ReadOnlySpan<float> x, ReadOnlySpan<byte> masks, ReadOnlySpan<float> wl, ReadOnlySpan<float> wf)
    {
        PrepareInputs(x, masks);
        return FusedPass(wl, wf);
    }

    /// <summary>The whole step in one sweep of the op on row labels [N * P], for weights known before the batch.</summary>
    public DistillStats RunFused(ReadOnlySpan<float> x, ReadOnlySpan<int> labels, ReadOnlySpan<float> wl, ReadOnlySpan<float> wf)
    {
        PrepareInputs(x, labels);
        return FusedPass(wl, wf);
    }

    private void PrepareInputs(ReadOnlySpan<float> x, ReadOnlySpan<byte> masks)
    {
        if (masks.Length != Shape.B) throw new MtkdInputException($"a dense step takes {Shape.B} mask pixels ({Images} x {Pixels}), got {masks.Length}");
        PixelRows.Labels(masks, Shape.C, Inputs.Y);
        PrepareStudent(x);
    }

    private void PrepareInputs(ReadOnlySpan<float> x, ReadOnlySpan<int> labels)
    {
        if (labels.Length != Shape.B) throw new MtkdInputException($"a dense step takes {Shape.B} row labels ({Images} x {Pixels}), got {labels.Length}");
        for (int r = 0; r < labels.Length; r++)
            if (labels[r] < -1 || labels[r] >= Shape.C) throw new MtkdInputException($"row label {labels[r]} of row {r} is outside -1..{Shape.C - 1}");
        labels.CopyTo(Inputs.Y);
        PrepareStudent(x);
    }

    private void PrepareStudent(ReadOnlySpan<float> x)
    {
        _student.Forward(x, Images, training: true, Inputs.Zs);
        Heads.Forward(_student.Embedding, Images, _fsImages);
        Spread(_fsImages, Inputs.Fs);
    }

    private void Spread(ReadOnlySpan<float> perImage, Span<float> rows)
    {
        int f = Heads.F;
        for (int n = 0; n < Images; n++)
        {
            var source = perImage.Slice(n * f, f);
            for (int p = 0; p < Pixels; p++) source.CopyTo(rows.Slice((n * Pixels + p) * f, f));
        }
    }

    protected override void BackwardFromGrads()
    {
        int f = Heads.F;
        Array.Clear(_dfsImages);
        for (int n = 0; n < Images; n++)
        {
            var sum = _dfsImages.AsSpan(n * f, f);
            for (int p = 0; p < Pixels; p++)
                System.Numerics.Tensors.TensorPrimitives.Add(sum, Grads.Dfs.AsSpan((n * Pixels + p) * f, f), sum);
        }
        var gradEmbedding = Heads.Backward(_dfsImages);
        _student.Backward(Grads.Dzs, gradEmbedding);
    }
}
