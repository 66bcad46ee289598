using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>
/// The task-specific part of a dense student for <see cref="DenseDistillStep"/>: its forward into class-logit rows
/// [images * RowsPerImage, Columns] and a per-image embedding, and its backward from dL/d rows and dL/d embedding.
/// <see cref="ExtraLoss"/> is any loss the student adds to the op's on its own (0 when none).
/// </summary>
public interface IDenseStudent
{
    ModelSpec Spec { get; }

    int RowsPerImage { get; }

    int Columns { get; }

    int EmbeddingWidth { get; }

    IEnumerable<Parameter> Parameters { get; }

    /// <summary>[images, D] of the last Forward.</summary>
    ReadOnlySpan<float> Embedding { get; }

    /// <summary>The loss the student adds on its own in the last training Forward.</summary>
    double ExtraLoss { get; }

    void Forward(ReadOnlySpan<float> x, int images, bool training, Span<float> rows);

    void Backward(ReadOnlySpan<float> gradRows, ReadOnlySpan<float> gradEmbedding);
}
