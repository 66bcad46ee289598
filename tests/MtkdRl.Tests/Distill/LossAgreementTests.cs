using MtkdRl.Backends;
using MtkdRl.Core;
using MtkdRl.Core.Distill;
using MtkdRl.Tests.Support;

namespace MtkdRl.Tests.Distill;

/// <summary>
/// Every catalog loss other than kl + mse (those are <see cref="BackendAgreementTests"/>) on every backend against
/// the float64 reference, over the cases of the agreement matrix. A backend that does not implement a loss must
/// refuse it with a one-line error, and the case reports skipped with that error as its reason.
/// </summary>
public class LossAgreementTests
{
    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var entry in BackendCatalog.All.Where(e => !(e.Name == "ilgpu" && e.Simulated)))
            foreach (var loss in DistillLossCatalog.AllCombinations().Where(l => !l.IsDefault))
                foreach (var c in AgreementCase.All.Where(c => !c.Heavy && !(entry.Simulated && c.D.Length >= 100)))
                    data.Add(entry.Name, LossCatalogTests.Name(loss), c.Name);
        return data;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Agrees_with_the_float64_reference_or_refuses_the_loss(string backendName, string lossName, string caseName)
    {
        var backend = SharedBackends.GetOrSkip(backendName);
        var c = AgreementCase.All.Single(a => a.Name == caseName);
        var hyper = c.Hyper with { Loss = LossCatalogTests.FromName(lossName) };
        c.SkipUnlessSupported(backend);
        int seed = TestSeeds.Next();
        var x = DistillInputFactory.Create(c.Shape, seed, c.Style, c.Ignored);
        if (!backend.Supports(hyper.Loss))
        {
            using var session = backend.CreateSession(c.Shape);
            session.Upload(x);
            var refusal = Assert.Throws<MtkdInputException>(() => session.Stats(hyper));
            Assert.Throws<MtkdInputException>(() => session.Fused(hyper));
            Assert.DoesNotContain('\n', refusal.Message);
            Skip.If(true, refusal.Message);
        }
        // The tiny-KL cases keep their precision check without the absolute floor: every divergence vanishes there too.
        DistillAgreement.Check(backend, x, hyper, $"{backendName} {lossName} {caseName} seed {seed}", absoluteFloor: !c.Precise);
    }
}
