using MtkdRl.Core;
using MtkdRl.Core.Distill;

namespace MtkdRl.Strategies;

/// <summary>Argument checks every strategy makes on a batch before it writes weights.</summary>
internal static class StrategyChecks
{
    public static void Batch(string name, int k, DistillShape shape, Span<float> wl, Span<float> wf)
    {
        if (shape.K != k)
            throw new MtkdInputException($"strategy {name}: built for {k} teachers, batch has K={shape.K}");
        int n = shape.B * k;
        if (wl.Length < n || wf.Length < n)
            throw new MtkdInputException($"strategy {name}: weight arrays hold {Math.Min(wl.Length, wf.Length)} values, batch needs B*K={n}");
    }

    public static void Labels(string name, ReadOnlySpan<int> labels, int b)
    {
        if (!labels.IsEmpty && labels.Length < b)
            throw new MtkdInputException($"strategy {name}: {labels.Length} labels for B={b} rows");
    }

    public static bool Counted(ReadOnlySpan<int> labels, int row) => labels.IsEmpty || labels[row] >= 0;
}
