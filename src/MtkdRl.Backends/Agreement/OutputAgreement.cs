namespace MtkdRl.Backends.Agreement;

/// <summary>
/// One output of one pass compared with the float64 reference.
/// </summary>
/// <param name="Output">What was compared ("two-pass kl", "fused dzs", ...), with the caller's context.</param>
/// <param name="RelativeError">max|got - ref| / max|ref| over the compared values (the absolute error when the
/// reference is all zeros); NaN when a non-finite value sits where the reference has none, or the reverse.</param>
/// <param name="Tolerance">The relative tolerance it was held to.</param>
/// <param name="Passed">Within tolerance * max|ref| + floor, NaN/Inf at the reference's positions.</param>
/// <param name="Detail">Why it failed (worst element, its value and the reference's), or empty.</param>
public sealed record OutputAgreement(string Output, double RelativeError, double Tolerance, bool Passed, string Detail)
{
    public override string ToString() => Passed ? $"{Output}: {RelativeError:E2} <= {Tolerance:E1}" : Detail;
}
