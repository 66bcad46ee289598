using System.IO.Hashing;
using System.Runtime.InteropServices;
using MtkdRl.Core;
using MtkdRl.Core.Cluster;
using MtkdRl.Core.Distill;
using MtkdRl.Strategies;
using MtkdRl.Training;

namespace MtkdRl.Distillation;

/// <summary>
/// One rank's part of a data-parallel step over an MPI job of N ranks. Every rank loads the same global batch of
/// B rows (same loader, same seed) and steps rows [rank·B/N, (rank+1)·B/N) through its own <see cref="DistillStep"/>;
/// the teachers' outputs are gathered for the whole batch, and the step's [B/N,K] statistics are all-gathered
/// into whole-batch ones, so the strategy decides and learns on the whole batch, identically on every rank.
/// The gradients of the student and the heads, the student's running statistics, the loss and the correct count
/// then travel in one flat buffer through one MPI_Allreduce: each rank's mean gradient weighted by its counted
/// rows, so the sum divided by the counted rows of the batch is the whole batch's mean gradient.
/// </summary>
internal sealed class DataParallelShard
{
    private const int StatArrays = 8, RowArrays = 3;

    private readonly ICommunicator _job;
    private readonly int _k, _c, _f;
    private readonly float[] _stats;
    private readonly float[] _allStats;
    private float[] _flat = [];

    public DataParallelShard(ICommunicator job, int globalBatch, int classes, int[] widths)
    {
        if (globalBatch % job.Size != 0)
            throw new MtkdInputException($"--batch {globalBatch} does not split over {job.Size} ranks; choose a batch that is a multiple of the rank count");
        _job = job;
        GlobalRows = globalBatch;
        LocalRows = globalBatch / job.Size;
        First = job.Rank * LocalRows;
        _k = widths.Length;
        _c = classes;
        _f = widths.Sum();
        WholeStats = new DistillStats(new DistillShape(globalBatch, classes, widths));
        TeacherLogits = new float[_k * globalBatch * classes];
        TeacherEmbeddings = new float[globalBatch * _f];
        LocalWl = new float[LocalRows * _k];
        LocalWf = new float[LocalRows * _k];
        _stats = new float[LocalRows * (StatArrays * _k + RowArrays)];
        _allStats = new float[_stats.Length * job.Size];
    }

    /// <summary>Seconds spent in the step's collectives (stats all-gather, gradient allreduce) since the last <see cref="TakeCommunication"/>, and their count.</summary>
    private readonly System.Diagnostics.Stopwatch _communication = new();
    private int _reductions;

    public (double Seconds, int Reductions, int Values) TakeCommunication()
    {
        var taken = (_communication.Elapsed.TotalSeconds, _reductions, _flat.Length);
        _communication.Reset();
        _reductions = 0;
        return taken;
    }

    public int GlobalRows { get; }

    public int LocalRows { get; }

    /// <summary>The first of this rank's rows in the global batch.</summary>
    public int First { get; }

    /// <summary>The whole batch's statistics (after <see cref="GatherStats"/>).</summary>
    public DistillStats WholeStats { get; }

    /// <summary>zt [K,B,C] of the whole batch.</summary>
    public float[] TeacherLogits { get; }

    /// <summary>ft [B,F] of the whole batch.</summary>
    public float[] TeacherEmbeddings { get; }

    public float[] LocalWl { get; }

    public float[] LocalWf { get; }

    /// <summary>This rank's rows of a [B, width] row-major array.</summary>
    public Span<T> Local<T>(Span<T> whole, int width = 1) => whole.Slice(First * width, LocalRows * width);

    /// <summary>Copies this rank's rows of the whole batch's teacher outputs into the step's buffers.</summary>
    public void SliceTeachers(Span<float> zt, Span<float> ft)
    {
        for (int k = 0; k < _k; k++)
            TeacherLogits.AsSpan((k * GlobalRows + First) * _c, LocalRows * _c).CopyTo(zt.Slice(k * LocalRows * _c, LocalRows * _c));
        Local<float>(TeacherEmbeddings, _f).CopyTo(ft);
    }

    /// <summary>This rank's rows of the whole batch's weights, for the step's gradient pass.</summary>
    public void SliceWeights(ReadOnlySpan<float> wl, ReadOnlySpan<float> wf)
    {
        wl.Slice(First * _k, LocalRows * _k).CopyTo(LocalWl);
        wf.Slice(First * _k, LocalRows * _k).CopyTo(LocalWf);
    }

    /// <summary>Collective: every rank's [B/N,K] and [B/N] statistics into <see cref="WholeStats"/>.</summary>
    public void GatherStats(DistillStats local)
    {
        var perTeacher = PerTeacher(local);
        var perRow = PerRow(local);
        int at = 0;
        foreach (var a in perTeacher.Concat(perRow))
        {
            a.CopyTo(_stats, at);
            at += a.Length;
        }
        _communication.Start();
        _job.AllGather(_stats, _allStats);
        _communication.Stop();
        var whole = PerTeacher(WholeStats).Select(a => (Array: a, Width: _k)).Concat(PerRow(WholeStats).Select(a => (Array: a, Width: 1))).ToList();
        for (int r = 0; r < _job.Size; r++)
        {
            int from = r * _stats.Length;
            foreach (var (array, width) in whole)
            {
                int n = LocalRows * width;
                _allStats.AsSpan(from, n).CopyTo(array.AsSpan(r * n, n));
                from += n;
            }
        }
    }

    private static float[][] PerTeacher(DistillStats s) => [s.Kl, s.CeT, s.Ht, s.Conf, s.Hit, s.Cos, s.Mse, s.LseT];

    private static float[][] PerRow(DistillStats s) => [s.CeS, s.LseS1, s.LseST];

    /// <summary>The whole batch as the strategy sees it.</summary>
    public WeightingContext ContextFor(IWeightingStrategy strategy, ReadOnlySpan<int> labels) =>
        strategy.NeedsTeacherOutputs
            ? new WeightingContext(WholeStats, labels, TeacherEmbeddings, TeacherLogits, RowGroups.Identity(GlobalRows))
            : new WeightingContext(WholeStats, labels, rows: RowGroups.Identity(GlobalRows));

    public LearnFeedback FeedbackFor(ReadOnlySpan<int> labels, float beta, double probeLossBefore, double probeLossAfter) =>
        new(WholeStats, labels, beta, probeLossBefore, probeLossAfter, RowGroups.Identity(GlobalRows));

    /// <summary>
    /// Collective: replaces every parameter's gradient by the whole batch's mean gradient and every running
    /// statistic by the ranks' mean; returns the whole batch's loss and correct count.
    /// </summary>
    public (double Loss, long Correct) Reduce(IReadOnlyList<Parameter> parameters, IReadOnlyList<NamedTensor> buffers, double loss, long correct,
        ReadOnlySpan<int> labels)
    {
        int counted = 0;
        foreach (int y in labels) counted += y >= 0 ? 1 : 0;
        long length = parameters.Sum(p => (long)p.Grad.Length) + buffers.Sum(b => (long)b.Value.Length) + 3;
        if (length > int.MaxValue) throw new MtkdException($"data-parallel: {length} values per step are more than one MPI call carries");
        if (_flat.Length != length) _flat = new float[length];
        int at = 0;
        foreach (var p in parameters)
        {
            var g = p.Grad;
            for (int i = 0; i < g.Length; i++) _flat[at + i] = g[i] * counted;
            at += g.Length;
        }
        foreach (var b in buffers)
        {
            b.Value.CopyTo(_flat, at);
            at += b.Value.Length;
        }
        _flat[at] = counted;
        _flat[at + 1] = (float)(loss * counted);
        _flat[at + 2] = correct;
        _communication.Start();
        _job.AllreduceSum(_flat);
        _communication.Stop();
        _reductions++;
        float total = _flat[at];
        float perRow = total > 0 ? 1f / total : 0f, perRank = 1f / _job.Size;
        at = 0;
        foreach (var p in parameters)
        {
            var g = p.Grad;
            for (int i = 0; i < g.Length; i++) g[i] = _flat[at + i] * perRow;
            at += g.Length;
        }
        foreach (var b in buffers)
        {
            var v = b.Value;
            for (int i = 0; i < v.Length; i++) v[i] = _flat[at + i] * perRank;
            at += v.Length;
        }
        return (total > 0 ? _flat[at + 1] / (double)total : 0, (long)_flat[at + 2]);
    }

    /// <summary>
    /// Collective: a hash of every parameter and running statistic, compared across the ranks; a rank whose
    /// weights differ from rank 0's is a one-line error naming the step.
    /// </summary>
    public void CheckReplicas(IEnumerable<NamedTensor> tensors, string run, long step)
    {
        var hash = new XxHash3();
        foreach (var t in tensors) hash.Append(MemoryMarshal.AsBytes(t.Value.AsSpan()));
        ulong h = hash.GetCurrentHashAsUInt64();
        // Three 22-bit pieces: integers a float holds exactly.
        Span<float> mine = [h & 0x3F_FFFF, (h >> 22) & 0x3F_FFFF, h >> 44];
        var all = new float[3 * _job.Size];
        _job.AllGather(mine, all);
        for (int r = 1; r < _job.Size; r++)
        {
            if (!all.AsSpan(3 * r, 3).SequenceEqual(all.AsSpan(0, 3)))
                throw new MtkdException($"{run}: data-parallel replicas differ after step {step}: rank {r}'s weights are not rank 0's");
        }
    }
}
