namespace MtkdRl.Core.Cluster;

/// <summary>The job of one process: every collective is the identity. What a command runs on without a launcher.</summary>
public sealed class SingleProcess : ICommunicator
{
    public static readonly SingleProcess Instance = new();

    private SingleProcess()
    {
    }

    public int Rank => 0;

    public int Size => 1;

    public void AllreduceSum(Span<float> values)
    {
    }

    public void AllreduceSum(Span<double> values)
    {
    }

    public void Broadcast(Span<byte> values, int root = 0) => CheckRoot(root);

    public void AllGather(ReadOnlySpan<float> mine, Span<float> all)
    {
        if (all.Length != mine.Length) throw new ArgumentException($"all-gather of {mine.Length} values needs {mine.Length} slots, got {all.Length}");
        mine.CopyTo(all);
    }

    public byte[][]? Gather(ReadOnlySpan<byte> mine, int root = 0)
    {
        CheckRoot(root);
        return [mine.ToArray()];
    }

    public void Barrier()
    {
    }

    private static void CheckRoot(int root)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), $"a job of one process has only rank 0, not {root}");
    }
}
