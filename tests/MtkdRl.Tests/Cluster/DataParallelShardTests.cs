using MtkdRl.Core;
using MtkdRl.Core.Cluster;
using MtkdRl.Distillation;
using MtkdRl.Training;

namespace MtkdRl.Tests.Cluster;

/// <summary>The arithmetic of a data-parallel step, on rank 0 of a job of two whose other rank is simulated.</summary>
public class DataParallelShardTests
{
    /// <summary>Rank 0 of two: the other rank's contribution to every sum and every gather is given.</summary>
    private sealed class TwoRanks(float[] peerSum, float[] peerGather) : ICommunicator
    {
        public int Rank => 0;
        public int Size => 2;

        public void AllreduceSum(Span<float> values)
        {
            for (int i = 0; i < values.Length; i++) values[i] += peerSum[i];
        }

        public void AllreduceSum(Span<double> values) => throw new NotSupportedException();
        public void Broadcast(Span<byte> values, int root = 0) => throw new NotSupportedException();

        public void AllGather(ReadOnlySpan<float> mine, Span<float> all)
        {
            mine.CopyTo(all);
            peerGather.CopyTo(all[mine.Length..]);
        }

        public byte[][]? Gather(ReadOnlySpan<byte> mine, int root = 0) => throw new NotSupportedException();
        public void Barrier() => throw new NotSupportedException();
    }

    [Fact]
    public void Gradients_become_the_whole_batch_mean_weighted_by_counted_rows()
    {
        // Rank 0: 2 counted rows (of 2), gradient [1, 2], loss 0.5, 1 correct; rank 1: 1 counted row, gradient [4, 8], loss 2, 1 correct.
        var p = new Parameter("w", [2], decay: true);
        p.Grad[0] = 1;
        p.Grad[1] = 2;
        var buffer = new NamedTensor("running", [1]);
        buffer.Value[0] = 3;
        float[] peer = [4 * 1, 8 * 1, 5, 1, 2 * 1, 1];
        var shard = new DataParallelShard(new TwoRanks(peer, []), 4, 2, [1]);
        var (loss, correct) = shard.Reduce([p], [buffer], 0.5, 1, [0, 1]);
        // float64 reference: (2·[1,2] + 1·[4,8]) / 3, (2·0.5 + 1·2) / 3, (3 + 5) / 2.
        Assert.Equal(6.0 / 3, p.Grad[0], 6);
        Assert.Equal(12.0 / 3, p.Grad[1], 6);
        Assert.Equal(4.0, buffer.Value[0], 6);
        Assert.Equal(1.0, loss, 6);
        Assert.Equal(2, correct);
    }

    [Fact]
    public void Replicas_that_drifted_apart_are_a_one_line_error_naming_the_rank_and_step()
    {
        var t = new NamedTensor("w", [3]);
        t.Value[0] = 1;
        var shard = new DataParallelShard(new TwoRanks([], [1, 2, 3]), 4, 2, [1]);
        var e = Assert.Throws<MtkdException>(() => shard.CheckReplicas([t], "aver/seed1", 7));
        Assert.Equal("aver/seed1: data-parallel replicas differ after step 7: rank 1's weights are not rank 0's", e.Message);
    }

    [Fact]
    public void Whole_batch_statistics_are_the_ranks_rows_in_order()
    {
        // K = 1, B = 4, two rows per rank: rank 1's packed statistics are 8 [2,1] arrays then 3 [2] arrays.
        var peer = Enumerable.Range(0, 22).Select(i => 100f + i).ToArray();
        var shard = new DataParallelShard(new TwoRanks([], peer), 4, 2, [1]);
        var local = new MtkdRl.Core.Distill.DistillStats(new MtkdRl.Core.Distill.DistillShape(2, 2, [1]));
        local.Kl[0] = 1;
        local.Kl[1] = 2;
        local.LseST[1] = 9;
        shard.GatherStats(local);
        Assert.Equal([1f, 2f, 100f, 101f], shard.WholeStats.Kl);
        Assert.Equal([0f, 0f, 102f, 103f], shard.WholeStats.CeT);
        Assert.Equal([0f, 9f, 120f, 121f], shard.WholeStats.LseST);
    }
}
