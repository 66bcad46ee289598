using MtkdRl.Backends.Agreement;
using MtkdRl.Core.Distill;

namespace MtkdRl.Tests.Distill;

/// <summary>The tests' name for <see cref="AgreementInputs.Create"/>: random batches, every value fresh and non-zero, some rows ignored.</summary>
public static class DistillInputFactory
{
    public static DistillInputs Create(DistillShape s, int seed, LogitStyle style = LogitStyle.Normal, double ignoredFraction = 0.15) =>
        AgreementInputs.Create(s, seed, style, ignoredFraction);
}
