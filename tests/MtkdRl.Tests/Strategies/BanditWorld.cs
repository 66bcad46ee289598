using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Tests.Strategies;

/// <summary>
/// A contextual bandit with a known answer: each row belongs to one of K clusters, and teacher k is right
/// exactly on cluster k. There its statistics look like a competent teacher the student is close to (small KL,
/// CEt, mse; confident; hit), elsewhere like a wrong one. The paper's reward -(CEs + sum wl KL + beta sum wf mse)
/// is therefore higher the more weight goes to the right teacher. Values carry noise so no single row is typical.
/// </summary>
public sealed class BanditWorld
{
    public BanditWorld(int b, int k, int c, int d, ulong seed)
    {
        Shape = new DistillShape(b, k, c, d);
        Stats = new DistillStats(Shape);
        Cluster = new int[b];
        Embeddings = new float[b * Shape.F];
        Logits = new float[k * b * c];
        Rng = new Rng(seed);
    }

    public DistillShape Shape { get; }
    public DistillStats Stats { get; }
    public int[] Cluster { get; }
    public float[] Embeddings { get; }
    public float[] Logits { get; }
    public Rng Rng { get; }

    private float U(float lo, float hi) => lo + (hi - lo) * Rng.NextSingle();

    /// <summary>Draws a fresh batch into <see cref="Stats"/>, <see cref="Embeddings"/> and <see cref="Logits"/>.</summary>
    public void Next()
    {
        int b = Shape.B, k = Shape.K, c = Shape.C;
        for (int r = 0; r < b; r++)
        {
            int right = Rng.NextInt(k);
            Cluster[r] = right;
            Stats.CeS[r] = U(0.5f, 2f);
            for (int t = 0; t < k; t++)
            {
                int i = r * k + t;
                bool good = t == right;
                Stats.Kl[i] = good ? U(0.1f, 0.5f) : U(1.5f, 3f);
                Stats.CeT[i] = good ? U(0.05f, 0.4f) : U(1.5f, 3.5f);
                Stats.Ht[i] = good ? U(0.1f, 0.6f) : U(0.8f, 2f);
                Stats.Conf[i] = good ? U(0.7f, 0.99f) : U(0.2f, 0.6f);
                Stats.Hit[i] = good ? 1f : (Rng.NextSingle() < 0.1f ? 1f : 0f);
                Stats.Cos[i] = good ? U(0.6f, 0.95f) : U(-0.2f, 0.4f);
                Stats.Mse[i] = good ? U(0.05f, 0.3f) : U(0.6f, 1.5f);
                for (int j = 0; j < c; j++) Logits[(t * b + r) * c + j] = U(-2f, 2f) + (good && j == r % c ? 3f : 0f);
            }
            for (int f = 0; f < Shape.F; f++) Embeddings[r * Shape.F + f] = U(-1f, 1f);
        }
    }

    public WeightingContextFactory Context => new(this);

    public readonly struct WeightingContextFactory(BanditWorld w)
    {
        public MtkdRl.Strategies.WeightingContext Full() => new(w.Stats, default, w.Embeddings, w.Logits);
    }

    /// <summary>Mean over rows of the weight on the row's right teacher.</summary>
    public double RightWeight(ReadOnlySpan<float> w)
    {
        int k = Shape.K;
        double sum = 0;
        for (int r = 0; r < Shape.B; r++) sum += w[r * k + Cluster[r]];
        return sum / Shape.B;
    }
}
