namespace MtkdRl.Core.Cluster;

/// <summary>
/// The processes of one job and the collective operations the commands need: a rank in [0, Size), sums over
/// every rank, a broadcast from one rank, a gather onto one rank and a barrier. Every rank must make the same
/// calls in the same order. <see cref="SingleProcess"/> is the job of one; <see cref="MpiCommunicator"/> runs
/// over Open MPI when the process was started by mpirun or srun (<see cref="Launcher"/>).
/// </summary>
public interface ICommunicator
{
    int Rank { get; }

    int Size { get; }

    /// <summary>Rank 0: the rank that prints progress and writes the final files.</summary>
    bool IsRoot => Rank == 0;

    /// <summary>Replaces <paramref name="values"/> on every rank by their element-wise sum over the ranks.</summary>
    void AllreduceSum(Span<float> values);

    /// <inheritdoc cref="AllreduceSum(Span{float})"/>
    void AllreduceSum(Span<double> values);

    /// <summary>Copies <paramref name="values"/> of rank <paramref name="root"/> into every rank's (same length on every rank).</summary>
    void Broadcast(Span<byte> values, int root = 0);

    /// <summary>Every rank's <paramref name="mine"/> side by side, in rank order, on every rank (same length on every rank).</summary>
    void AllGather(ReadOnlySpan<float> mine, Span<float> all);

    /// <summary>Every rank's bytes (any length) on rank <paramref name="root"/>, in rank order; null on the other ranks.</summary>
    byte[][]? Gather(ReadOnlySpan<byte> mine, int root = 0);

    void Barrier();
}
