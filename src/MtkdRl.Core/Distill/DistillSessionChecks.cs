namespace MtkdRl.Core.Distill;

/// <summary>Small checks shared by every session implementation.</summary>
public static class DistillSessionChecks
{
    public static void ShapeMismatch(DistillShape session, DistillShape batch) =>
        throw new MtkdInputException($"batch shape ({batch}) does not match the session's shape ({session})");

    /// <summary>The checks every <see cref="IDistillSession.Upload"/> performs before copying.</summary>
    public static void CheckUpload(DistillShape session, DistillInputs inputs)
    {
        if (!SameShape(session, inputs.Shape)) ShapeMismatch(session, inputs.Shape);
        DistillValidation.CheckSizes(inputs);
        DistillValidation.CheckLabels(session, inputs.Y);
    }

    /// <summary>For a backend without <see cref="IDistillBackend.SupportsFeaturelessTeachers"/>: refuses D_k = 0.</summary>
    public static void RequireFeatures(DistillShape shape, string backend)
    {
        for (int k = 0; k < shape.K; k++)
            if (shape.D[k] == 0)
                throw new MtkdInputException($"backend {backend}: teacher {k} has no features (D = 0); this backend needs D >= 1 for every teacher");
    }

    public static bool SameShape(DistillShape a, DistillShape b) =>
        ReferenceEquals(a, b) || (a.B == b.B && a.C == b.C && a.D.SequenceEqual(b.D));
}
