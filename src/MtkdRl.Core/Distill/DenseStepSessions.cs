namespace MtkdRl.Core.Distill;

/// <summary>
/// How a dense distillation step splits over two sessions of the op (docs/DESIGN.md §6): B pixel rows with the logit
/// terms and no feature term, and N image rows with the feature term and no logit term. The dense step and the
/// kernel benchmark's "B,K,C,D/N" both build their sessions from here.
/// </summary>
public static class DenseStepSessions
{
    /// <summary>The image rows' logits: two zero columns, a label 0, no weight on them.</summary>
    public const int ImageRowClasses = 2;

    /// <summary>
    /// The pixel rows' shape: B rows of C classes, no features on a backend that takes D = 0
    /// (<see cref="IDistillBackend.SupportsFeaturelessTeachers"/>), else one (zero) feature per teacher.
    /// </summary>
    public static DistillShape PixelShape(int rows, int classes, int teachers, bool featureless) =>
        new(rows, classes, Enumerable.Repeat(featureless ? 0 : 1, teachers).ToArray());

    /// <summary>The image rows' shape: N rows, <see cref="ImageRowClasses"/> placeholder logits, the teachers' widths D.</summary>
    public static DistillShape ImageShape(int images, IReadOnlyList<int> widths) => new(images, ImageRowClasses, widths);

    /// <summary>The pixel rows' scalars: the step's, without the feature term.</summary>
    public static DistillHyper PixelHyper(DistillHyper hyper) => hyper with { Beta = 0f };

    /// <summary>The image rows' scalars: the step's, without the cross-entropy and logit terms.</summary>
    public static DistillHyper ImageHyper(DistillHyper hyper) => hyper with { ACe = 0f, AKd = 0f };
}
