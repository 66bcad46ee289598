using MtkdRl.Core.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Distill;

/// <summary>
/// Each backend's gradient pass against central differences of the loss its own stats pass reports, for every
/// catalog loss other than kl + mse: L = (1/B') sum_b [a_ce ce_s + a_kd sum_k wl kl + beta sum_k wf mse], from
/// float32 statistics, so the steps are large (1e-2) and the tolerance is 1e-2 of the largest gradient entry checked.
/// It ties the two kernels of a loss together on each backend, apart from the float64 reference.
/// </summary>
public class LossFiniteDifferenceTests
{
    private static readonly DistillShape Shape = new(3, 7, [3, 4]);
    private const int Seed = 20_240_917;
    private const float Step = 1e-2f;

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (string backend in new[] { "native", "ilgpu-cpu", "cuda-emu" })
            foreach (var loss in DistillLossCatalog.AllCombinations().Where(l => !l.IsDefault))
                data.Add(backend, LossCatalogTests.Name(loss));
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Gradients_match_central_differences_of_the_backends_own_loss(string backendName, string lossName)
    {
        var backend = SharedBackends.GetOrSkip(backendName);
        var hyper = DistillHyper.Default with { Loss = LossCatalogTests.FromName(lossName) };
        var x = DistillInputFactory.Create(Shape, Seed, ignoredFraction: 0);
        using var session = backend.CreateSession(Shape);
        var stats = new DistillStats(Shape);
        var grads = new DistillGrads(Shape);

        session.Upload(x);
        session.Stats(hyper);
        session.Gradient(hyper);
        session.DownloadGrads(grads);

        double Loss()
        {
            session.Upload(x);
            session.Stats(hyper);
            session.DownloadStats(stats);
            double sum = 0;
            for (int b = 0; b < Shape.B; b++)
            {
                sum += hyper.ACe * stats.CeS[b];
                for (int k = 0; k < Shape.K; k++)
                {
                    int i = b * Shape.K + k;
                    sum += hyper.AKd * x.Wl[i] * stats.Kl[i] + hyper.Beta * x.Wf[i] * stats.Mse[i];
                }
            }
            return sum * x.InverseCountedRows();
        }

        double Central(float[] input, int at)
        {
            float keep = input[at];
            double At(float delta)
            {
                input[at] = keep + delta;
                return Loss();
            }
            double slope = (At(Step) - At(-Step)) / (2.0 * Step);
            input[at] = keep;
            return slope;
        }

        int[] logits = [0, 4, 6, 8, 13, 20];
        int[] features = [0, 2, 3, 6, 9, 13];
        var checks = logits.Select(i => (Name: $"dzs[{i}]", Got: (double)grads.Dzs[i], Want: Central(x.Zs, i)))
            .Concat(features.Select(j => (Name: $"dfs[{j}]", Got: (double)grads.Dfs[j], Want: Central(x.Fs, j)))).ToList();
        double scale = checks.Max(c => Math.Abs(c.Got));
        foreach (var (name, got, want) in checks)
            Assert.True(Math.Abs(got - want) <= 1e-2 * scale,
                $"{backendName} {lossName} seed {Seed}: {name} = {got:G6}, central difference {want:G6} (scale {scale:G3})");
    }
}
