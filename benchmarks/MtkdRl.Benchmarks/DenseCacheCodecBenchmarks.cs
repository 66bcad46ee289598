using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using MtkdRl.Core.Formats;

namespace MtkdRl.Benchmarks;

/// <summary>
/// One dense cache record through <see cref="DenseRecordCodec"/>: the default segmentation record (K = 3 teachers'
/// float16 logits on a 64 x 64 grid, 11 columns, and 144 embedding values), its maps smooth with noise in the
/// lowest bits as a trained teacher's are. Decode is what a cached dense run pays per image and epoch.
/// </summary>
[MemoryDiagnoser]
public class DenseCacheCodecBenchmarks
{
    private static readonly DenseCacheGrid Grid = new(64, 64, 1, 11);
    private const int K = 3, F = 144;
    private byte[] _record = [], _compressed = [], _back = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(7);
        var values = new Half[K * Grid.RowsPerImage * Grid.Columns + F];
        for (int t = 0; t < K; t++)
            for (int p = 0; p < Grid.RowsPerImage; p++)
                for (int c = 0; c < Grid.Columns; c++)
                {
                    int x = p % Grid.Width, y = p / Grid.Width;
                    values[(t * Grid.RowsPerImage + p) * Grid.Columns + c] =
                        (Half)(5 * Math.Sin(x / 6.0 + c) * Math.Cos(y / 5.0 - t) - 2 + 0.05 * rng.NextDouble());
                }
        for (int i = values.Length - F; i < values.Length; i++) values[i] = (Half)rng.NextDouble();
        _record = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        _compressed = DenseRecordCodec.Encode(_record, Grid, K, 2);
        _back = new byte[_record.Length];
    }

    [Benchmark] public int Encode() => DenseRecordCodec.Encode(_record, Grid, K, 2).Length;

    [Benchmark] public void Decode() => DenseRecordCodec.Decode(_compressed, _back, Grid, K, 2);
}
