using MtkdRl.Training;

namespace MtkdRl.Tests.Distillation;

/// <summary>
/// A distillation step's parameter gradients against central differences (step 1e-2) of its loss, at
/// <c>trials</c> random entries of every parameter: |analytic - numeric| &lt;= 2e-3 + relative * |numeric|.
/// </summary>
public static class StepGradientCheck
{
    /// <summary>Runs <paramref name="loss"/> (a whole step) once, then perturbs; returns how many entries were checked.</summary>
    public static int Run(IReadOnlyList<Parameter> parameters, Func<double> loss, int trials, double relative)
    {
        loss();
        var analytic = parameters.ToDictionary(p => p.Name, p => (float[])p.Grad.Clone());
        var pick = new Random(3);
        int checkedCount = 0;
        foreach (var p in parameters)
        {
            for (int trial = 0; trial < trials; trial++)
            {
                int i = pick.Next(p.Size);
                float saved = p.Value[i];
                const float h = 1e-2f;
                p.Value[i] = saved + h;
                double plus = loss();
                p.Value[i] = saved - h;
                double minus = loss();
                p.Value[i] = saved;
                double numeric = (plus - minus) / (2 * h);
                double got = analytic[p.Name][i];
                Assert.True(Math.Abs(got - numeric) <= 2e-3 + relative * Math.Abs(numeric),
                    $"{p.Name}[{i}]: analytic {got:E4}, central difference {numeric:E4}");
                checkedCount++;
            }
        }
        return checkedCount;
    }
}
