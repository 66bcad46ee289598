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
/// The feature term is per image, computed once per image in a second, small session of the op: N feature rows
/// (each image's projected embedding, the heads on the pooled bottleneck, against each teacher's image
/// embedding), no logit term (a_ce = a_kd = 0 there), while the pixel rows' session carries no feature term
/// (beta = 0 there, and no features at all where the backend supports it, else one zero feature per teacher). With V_n valid pixels in image n, B' = sum_n V_n and N' the
/// images with a valid pixel, image n's feature weight is wf'[n,k] = (N' / B') sum over its valid pixels of
/// wf[r,k], so the image session's (1/N') sum_n beta sum_k wf'[n,k] mse[n,k] is exactly the per-pixel op's
/// (1/B') sum over valid pixels of beta sum_k wf[r,k] mse[n(r),k] with the image's features on every pixel,
/// without writing them to every pixel (docs/DESIGN.md §6). The image statistics cos and mse are shown to the
/// strategy on every pixel row of their image.
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
    private readonly OpSession _images;
    private readonly ChannelDistillation? _channels;
    private readonly int[] _validPixels;

    public DenseDistillStep(SegmentationModel student, ProjectionHeads heads, IDistillBackend backend, int images, DistillHyper hyper,
        (float Weight, float Temperature)? channelKd = null)
        : this(new SegmentationRows(student), heads, backend, images, hyper, channelKd)
    {
    }

    /// <param name="channelKd">When given: the channel-wise KD term's weight lambda and temperature tau, a third session
    /// (<see cref="ChannelDistillation"/>) whose gradient joins the pixel rows'.</param>
    public DenseDistillStep(IDenseStudent student, ProjectionHeads heads, IDistillBackend backend, int images, DistillHyper hyper,
        (float Weight, float Temperature)? channelKd = null)
        : base(backend, new DistillShape(PixelRowCount(student, images), student.Columns, heads.Widths), DenseStepSessions.PixelHyper(hyper),
            DenseStepSessions.PixelShape(PixelRowCount(student, images), student.Columns, heads.Widths.Count, backend.SupportsFeaturelessTeachers))
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
        _images = new OpSession(backend, DenseStepSessions.ImageShape(images, heads.Widths), DenseStepSessions.ImageHyper(hyper));
        if (channelKd is { } cw)
            _channels = new ChannelDistillation(backend, images, student.Columns, Pixels, heads.Widths.Count, hyper, cw.Weight, cw.Temperature);
        _validPixels = new int[images];
    }

    private static int PixelRowCount(IDenseStudent student, int images)
    {
        if (images < 1) throw new MtkdInputException($"a dense step needs at least one image (got {images})");
        long rows = (long)images * student.RowsPerImage;
        if (rows * student.Columns > Array.MaxLength)
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

    /// <summary>The teachers' image embeddings [N, F] (teacher k's D_k columns at its offset): the image session's ft.</summary>
    public void SetTeacherEmbeddings(ReadOnlySpan<float> perImage)
    {
        int f = Heads.F;
        if (perImage.Length != Images * f) throw new MtkdInputException($"teacher embeddings hold {perImage.Length} values, {Images} images x F = {f} need {Images * f}");
        perImage.CopyTo(_images.Inputs.Ft);
    }

    /// <summary>
    /// The batch as <paramref name="strategy"/> sees it; the teachers' embeddings, when it asks for them, are the
    /// images' [N, F] (<see cref="WeightingContext.EmbeddingsPerSample"/>).
    /// </summary>
    public WeightingContext ContextFor(IWeightingStrategy strategy) =>
        strategy.NeedsTeacherOutputs
            ? new WeightingContext(StatsBuffer, Inputs.Y, _images.Inputs.Ft, Inputs.Zt, Rows, embeddingsPerSample: true)
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
        Heads.Forward(_student.Embedding, Images, _images.Inputs.Fs);
        CountValidPixels();
    }

    /// <summary>V_n per image; an image session row counts (label 0) when its image has a valid pixel, else -1.</summary>
    private void CountValidPixels()
    {
        var labels = Inputs.Y;
        for (int n = 0; n < Images; n++)
        {
            int valid = 0;
            foreach (int y in labels.AsSpan(n * Pixels, Pixels))
                if (y >= 0) valid++;
            _validPixels[n] = valid;
            _images.Inputs.Y[n] = valid > 0 ? 0 : -1;
        }
    }

    protected override void RunStats()
    {
        base.RunStats();
        _images.RunStats();
        ShowImageStatsOnPixels();
    }

    protected override double RunGradient(float[] wl, float[] wf)
    {
        double loss = base.RunGradient(wl, wf);
        ImageFeatureWeights(wf);
        _images.RunGradient(_images.Inputs.Wl, _images.Inputs.Wf); // wl stays 0: no logit term on the image rows
        return loss + _images.Grads.Loss() + ChannelTerm(wl);
    }

    protected override double RunFused(ReadOnlySpan<float> wl, ReadOnlySpan<float> wf)
    {
        double loss = base.RunFused(wl, wf);
        ImageFeatureWeights(wf);
        _images.RunFused();
        ShowImageStatsOnPixels();
        return loss + _images.Grads.Loss() + ChannelTerm(wl);
    }

    /// <summary>The channel-wise KD term, when the step has one: its gradient added to the pixel rows' dL/dzs; its loss.</summary>
    private double ChannelTerm(ReadOnlySpan<float> wl)
    {
        if (_channels is null) return 0;
        long block = (long)Shape.B * Shape.C;
        _channels.Run(Inputs.Zs.AsSpan(0, (int)block), AllTeacherRows, Inputs.Y.AsSpan(0, Shape.B), wl[..(Shape.B * Shape.K)], Grads.Dzs.AsSpan(0, (int)block));
        return _channels.Loss;
    }

    /// <summary>
    /// The image session's wf'[n,k] = (N' / B') sum of wf[r,k] over image n's valid pixels (the class summary above),
    /// summed in float64; its wl is never written, so it stays 0.
    /// </summary>
    private void ImageFeatureWeights(ReadOnlySpan<float> wf)
    {
        int k = Shape.K;
        long validPixels = 0, validImages = 0;
        foreach (int v in _validPixels)
        {
            validPixels += v;
            if (v > 0) validImages++;
        }
        double scale = validPixels == 0 ? 0 : (double)validImages / validPixels;
        var labels = Inputs.Y;
        Span<double> sums = k <= 64 ? stackalloc double[k] : new double[k];
        for (int n = 0; n < Images; n++)
        {
            ValidRowSums.Of(wf, labels, n, Pixels, sums);
            for (int t = 0; t < k; t++) _images.Inputs.Wf[n * k + t] = (float)(scale * sums[t]);
        }
    }

    /// <summary>The image session's cos and mse [N,K] on every pixel row of their image.</summary>
    private void ShowImageStatsOnPixels()
    {
        int k = Shape.K, block = Pixels * k;
        for (int n = 0; n < Images; n++)
        {
            Repeat(_images.Stats.Cos.AsSpan(n * k, k), StatsBuffer.Cos.AsSpan(n * block, block));
            Repeat(_images.Stats.Mse.AsSpan(n * k, k), StatsBuffer.Mse.AsSpan(n * block, block));
        }
    }

    /// <summary>Fills <paramref name="target"/> with copies of <paramref name="source"/>, doubling the filled part each time.</summary>
    private static void Repeat(ReadOnlySpan<float> source, Span<float> target)
    {
        source.CopyTo(target);
        for (int filled = source.Length; filled < target.Length; filled *= 2)
            target[..Math.Min(filled, target.Length - filled)].CopyTo(target[filled..]);
    }

    protected override void BackwardFromGrads()
    {
        var gradEmbedding = Heads.Backward(_images.Grads.Dfs);
        _student.Backward(Grads.Dzs, gradEmbedding);
    }

    public override void Dispose()
    {
        _images.Dispose();
        _channels?.Dispose();
        base.Dispose();
    }
}
