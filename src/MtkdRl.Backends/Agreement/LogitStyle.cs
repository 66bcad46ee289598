namespace MtkdRl.Backends.Agreement;

/// <summary>How the logits of a generated batch look.</summary>
public enum LogitStyle
{
    /// <summary>Gaussian logits, scale 3: ordinary soft predictions.</summary>
    Normal,
    /// <summary>Logits of ±80 with one winning class per row: near one-hot teachers and student, where exp overflows without a max shift.</summary>
    Extreme,
    /// <summary>
    /// Every teacher is the student plus uniform noise of width 1e-3: every KL of the batch is around 1e-7, the
    /// case where a KL formed by cancellation in float32 keeps no correct digit.
    /// </summary>
    NearlyEqual,
}
