using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>A segmentation network as a dense student: a row per pixel, its [N, C+1, P] maps turned to rows and back.</summary>
public sealed class SegmentationRows(SegmentationModel model) : IDenseStudent
{
    private float[] _maps = [];
    private int _images;

    public SegmentationModel Model { get; } = model;

    public ModelSpec Spec => Model.Spec;

    public int RowsPerImage => Model.Pixels;

    public int Columns => Model.Classes;

    public int EmbeddingWidth => Model.EmbeddingWidth;

    public IEnumerable<Parameter> Parameters => Model.Parameters;

    public ReadOnlySpan<float> Embedding => Model.Embedding;

    public double ExtraLoss => 0;

    public void Forward(ReadOnlySpan<float> x, int images, bool training, Span<float> rows)
    {
        Model.Forward(x, images, training);
        _images = images;
        PixelRows.ToRows(Model.Logits, images, Columns, RowsPerImage, rows);
    }

    public void Backward(ReadOnlySpan<float> gradRows, ReadOnlySpan<float> gradEmbedding)
    {
        int n = _images * Columns * RowsPerImage;
        if (_maps.Length != n) _maps = new float[n];
        PixelRows.FromRows(gradRows, _images, Columns, RowsPerImage, _maps);
        Model.Backward(_maps, gradEmbedding);
    }
}
