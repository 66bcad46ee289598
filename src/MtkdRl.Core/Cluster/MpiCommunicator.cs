namespace MtkdRl.Core.Cluster;

/// <summary>
/// MPI_COMM_WORLD over Open MPI (<see cref="OpenMpi"/>). Initialised once per process by <see cref="Job"/>;
/// finalised when the process exits normally. A process that ends with an error calls <see cref="Abort"/>
/// instead, so the other ranks, which may be waiting in a collective, end too rather than hang.
/// </summary>
public sealed unsafe class MpiCommunicator : ICommunicator
{
    /// <summary>What rank 0 prints when the launcher stops the job because another rank ended.</summary>
    public const string StoppedMessage =
        "mtkd: error: the MPI job was stopped: another rank ended before finishing (killed or crashed); finished work and checkpoints are kept, run the command again (with --resume for distill) to continue";

    private static int _aborting;
    private static System.Runtime.InteropServices.PosixSignalRegistration? _stopSignal;

    private MpiCommunicator(int rank, int size)
    {
        Rank = rank;
        Size = size;
    }

    public int Rank { get; }

    public int Size { get; }

    internal static MpiCommunicator InitWorld()
    {
        OpenMpi.Load();
        OpenMpi.Check(OpenMpi.MPI_Initialized(out int initialized), "MPI_Initialized");
        if (initialized == 0) OpenMpi.Check(OpenMpi.MPI_Init(0, 0), "MPI_Init");
        OpenMpi.Check(OpenMpi.MPI_Comm_rank(OpenMpi.CommWorld, out int rank), "MPI_Comm_rank");
        OpenMpi.Check(OpenMpi.MPI_Comm_size(OpenMpi.CommWorld, out int size), "MPI_Comm_size");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => FinalizeOnExit();
        _stopSignal = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, _ =>
        {
            // mpirun sends SIGTERM to the ranks left when one of them ends without finishing (killed, crashed).
            if (rank == 0) Console.Error.WriteLine(StoppedMessage);
            Console.Error.Flush();
            ExitWithoutFinalize(143);
        });
        return new MpiCommunicator(rank, size);
    }

    /// <summary>Ends every rank of the job with <paramref name="code"/> (MPI_Abort); does not return.</summary>
    public static void Abort(int code)
    {
        Interlocked.Exchange(ref _aborting, 1);
        OpenMpi.MPI_Abort(OpenMpi.CommWorld, code);
        OpenMpi.ExitNow(code);
    }

    /// <summary>Leaves the process at once with <paramref name="code"/>, without MPI_Finalize (which would wait for ranks that are gone).</summary>
    public static void ExitWithoutFinalize(int code)
    {
        Interlocked.Exchange(ref _aborting, 1);
        OpenMpi.ExitNow(code);
    }

    private static void FinalizeOnExit()
    {
        if (Volatile.Read(ref _aborting) != 0) return;
        if (OpenMpi.MPI_Finalized(out int finalized) == 0 && finalized == 0) OpenMpi.MPI_Finalize();
    }

    public void AllreduceSum(Span<float> values)
    {
        fixed (float* p = values)
            OpenMpi.Check(OpenMpi.MPI_Allreduce((void*)OpenMpi.InPlace, p, values.Length, OpenMpi.Float, OpenMpi.Sum, OpenMpi.CommWorld), "MPI_Allreduce");
    }

    public void AllreduceSum(Span<double> values)
    {
        fixed (double* p = values)
            OpenMpi.Check(OpenMpi.MPI_Allreduce((void*)OpenMpi.InPlace, p, values.Length, OpenMpi.Double, OpenMpi.Sum, OpenMpi.CommWorld), "MPI_Allreduce");
    }

    public void Broadcast(Span<byte> values, int root = 0)
    {
        fixed (byte* p = values)
            OpenMpi.Check(OpenMpi.MPI_Bcast(p, values.Length, OpenMpi.Byte, root, OpenMpi.CommWorld), "MPI_Bcast");
    }

    public void AllGather(ReadOnlySpan<float> mine, Span<float> all)
    {
        if (all.Length != (long)mine.Length * Size)
            throw new ArgumentException($"all-gather of {mine.Length} values from {Size} ranks needs {mine.Length * Size} slots, got {all.Length}");
        fixed (float* s = mine)
        fixed (float* r = all)
            OpenMpi.Check(OpenMpi.MPI_Allgather(s, mine.Length, OpenMpi.Float, r, mine.Length, OpenMpi.Float, OpenMpi.CommWorld), "MPI_Allgather");
    }

    public byte[][]? Gather(ReadOnlySpan<byte> mine, int root = 0)
    {
        int length = mine.Length;
        var lengths = Rank == root ? new int[Size] : [];
        fixed (int* l = lengths)
            OpenMpi.Check(OpenMpi.MPI_Gather(&length, 1, OpenMpi.Int, l, 1, OpenMpi.Int, root, OpenMpi.CommWorld), "MPI_Gather");
        byte[] all = [];
        var offsets = new int[Size];
        if (Rank == root)
        {
            long total = 0;
            for (int r = 0; r < Size; r++)
            {
                offsets[r] = (int)total;
                total += lengths[r];
            }
            if (total > int.MaxValue) throw new MtkdException($"MPI: a gather of {total} bytes is more than one call carries (2 GiB); split the work finer");
            all = new byte[total];
        }
        fixed (byte* s = mine)
        fixed (byte* a = all)
        fixed (int* l = lengths)
        fixed (int* o = offsets)
            OpenMpi.Check(OpenMpi.MPI_Gatherv(s, length, OpenMpi.Byte, a, l, o, OpenMpi.Byte, root, OpenMpi.CommWorld), "MPI_Gatherv");
        if (Rank != root) return null;
        return [.. Enumerable.Range(0, Size).Select(r => all.AsSpan(offsets[r], lengths[r]).ToArray())];
    }

    public void Barrier() => OpenMpi.Check(OpenMpi.MPI_Barrier(OpenMpi.CommWorld), "MPI_Barrier");
}
