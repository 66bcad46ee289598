using MtkdRl.Backends.Agreement;
using MtkdRl.Core.Distill;

namespace MtkdRl.Tests.Distill;

/// <summary>The comparison every agreement check goes through: what passes, what fails, and what it reports.</summary>
public class BackendAgreementComparisonTests
{
    [Fact]
    public void An_error_within_the_tolerance_of_the_largest_reference_value_passes()
    {
        var r = BackendAgreement.CompareOutput("x", [10.0, 1e-3], [10.00009f, 1e-3f + 5e-5f], 1e-5);
        Assert.True(r.Passed, r.Detail);
        Assert.InRange(r.RelativeError, 4e-6, 1e-5);
    }

    [Fact]
    public void An_error_beyond_tolerance_times_max_ref_plus_floor_fails_naming_the_worst_element()
    {
        var r = BackendAgreement.CompareOutput("two-pass kl", [1e-7, 2e-7], [1e-7f, 2.1e-7f], 1e-5);
        Assert.False(r.Passed);
        Assert.Contains("two-pass kl: max relative error", r.Detail);
        Assert.Contains("at [1]", r.Detail);
        // The same values pass under the absolute floor that ordinary cases get.
        Assert.True(BackendAgreement.CompareOutput("kl", [1e-7, 2e-7], [1e-7f, 2.1e-7f], 1e-5, BackendAgreement.AbsoluteFloor).Passed);
    }

    [Fact]
    public void Non_finite_values_must_sit_where_the_reference_has_them()
    {
        Assert.True(BackendAgreement.CompareOutput("x", [double.NaN, 1], [float.NaN, 1f], 1e-5).Passed);
        var misplaced = BackendAgreement.CompareOutput("x", [1, 1], [float.NaN, 1f], 1e-5);
        Assert.False(misplaced.Passed);
        Assert.True(double.IsNaN(misplaced.RelativeError));
        Assert.False(BackendAgreement.CompareOutput("x", [double.PositiveInfinity], [float.NegativeInfinity], 1e-5).Passed);
    }

    [Fact]
    public void An_all_zero_reference_is_held_to_the_floor_and_without_one_matched_exactly()
    {
        Assert.True(BackendAgreement.CompareOutput("dzs", [0.0, 0.0], [0f, 0f], 1e-4, 1e-6).Passed);
        Assert.True(BackendAgreement.CompareOutput("dzs", [0.0, 0.0], [0f, 1e-8f], 1e-4, 1e-6).Passed);
        Assert.False(BackendAgreement.CompareOutput("dzs", [0.0, 0.0], [0f, 2e-6f], 1e-4, 1e-6).Passed);
        Assert.False(BackendAgreement.CompareOutput("dzs", [0.0, 0.0], [0f, 1e-12f], 1e-4).Passed);
    }

    [Fact]
    public void Rows_left_out_are_not_compared()
    {
        // Two rows of two values; row 1 is wrong but left out.
        double[] want = [1, 2, 3, 4];
        float[] got = [1f, 2f, float.NaN, 99f];
        Assert.False(BackendAgreement.CompareOutput("x", want, got, 1e-5).Passed);
        Assert.True(BackendAgreement.CompareOutput("x", want, got, 1e-5, rows: [true, false]).Passed);
    }

    [Fact]
    public void Nearly_equal_inputs_hold_only_tiny_divergences_and_are_reproducible()
    {
        var shape = new DistillShape(9, 10, [4, 4]);
        var x = AgreementInputs.Create(shape, 17, LogitStyle.NearlyEqual);
        var kl = ReferenceDistill.ComputeStats(ReferenceDistill.Inputs64.From(x), new DistillHyper(Temperature: 1f)).Kl;
        Assert.InRange(kl.Max(), 1e-9, 1e-5);
        Assert.Equal(x.Zt, AgreementInputs.Create(shape, 17, LogitStyle.NearlyEqual).Zt);
        Assert.NotEqual(x.Zt, AgreementInputs.Create(shape, 18, LogitStyle.NearlyEqual).Zt);
    }

    [Fact]
    public void The_reference_backend_agrees_with_itself_through_the_whole_check()
    {
        using var backend = new ReferenceBackend();
        var shape = new DistillShape(5, 7, [3, 2]);
        var results = BackendAgreement.Check(backend, AgreementInputs.Create(shape, 3), DistillHyper.Default, "ref", reweightSeed: 11);
        Assert.All(results, r => Assert.True(r.Passed, r.Detail));
        Assert.Equal(2 * (ReferenceDistill.Named(ReferenceDistill.ComputeStats(ReferenceDistill.Inputs64.From(AgreementInputs.Create(shape, 3)), DistillHyper.Default)).Count()
            + new DistillGrads(shape).Named().Count()), results.Count);
        Assert.StartsWith("ref two-pass ", results[0].Output);
    }
}
