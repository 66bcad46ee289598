using System.Collections.Concurrent;
using MtkdRl.Core;

namespace MtkdRl.Strategies;

/// <summary>
/// Which sample (image) each row of a batch belongs to. The fused op and the strategies work on rows; for
/// classification a row is an image and the map is the identity, for dense tasks a row is a pixel (segmentation)
/// or a location (detection) and one image owns many rows. A strategy that decides per image reads its rows'
/// statistics through this map (e.g. <see cref="MeanPerSample"/>) and writes the image's weights to each of its
/// rows. Rows of one sample need not be contiguous; a sample may own no row.
/// </summary>
public sealed class RowGroups
{
    private static readonly ConcurrentDictionary<int, RowGroups> Identities = new();

    private readonly int[] _sampleOfRow;
    private readonly int[] _start;
    private readonly int[] _rowsBySample;

    private RowGroups(int[] sampleOfRow, int samples)
    {
        _sampleOfRow = sampleOfRow;
        Samples = samples;
        _start = new int[samples + 1];
        foreach (int s in sampleOfRow) _start[s + 1]++;
        for (int s = 0; s < samples; s++) _start[s + 1] += _start[s];
        _rowsBySample = new int[sampleOfRow.Length];
        var next = _start[..samples];
        for (int r = 0; r < sampleOfRow.Length; r++) _rowsBySample[next[sampleOfRow[r]]++] = r;
        IsIdentity = samples == sampleOfRow.Length && sampleOfRow.AsSpan().SequenceEqual(Enumerable.Range(0, samples).ToArray());
    }

    /// <summary>Each of <paramref name="rows"/> rows is its own sample (classification). Instances are shared.</summary>
    public static RowGroups Identity(int rows)
    {
        if (rows < 1) throw new ArgumentOutOfRangeException(nameof(rows), rows, "a batch has at least one row");
        return Identities.GetOrAdd(rows, b => new RowGroups(Enumerable.Range(0, b).ToArray(), b));
    }

    /// <summary>Row r belongs to sample sampleOfRow[r], in [0, samples).</summary>
    public static RowGroups FromSampleOfRow(ReadOnlySpan<int> sampleOfRow, int samples)
    {
        if (sampleOfRow.IsEmpty) throw new MtkdInputException("row-to-sample map: a batch has at least one row");
        if (samples < 1) throw new MtkdInputException($"row-to-sample map: sample count must be at least 1 (got {samples})");
        for (int r = 0; r < sampleOfRow.Length; r++)
        {
            if ((uint)sampleOfRow[r] >= (uint)samples)
                throw new MtkdInputException($"row-to-sample map: row {r} names sample {sampleOfRow[r]}, outside 0..{samples - 1}");
        }
        return new RowGroups(sampleOfRow.ToArray(), samples);
    }

    /// <summary>B, rows of the batch.</summary>
    public int Rows => _sampleOfRow.Length;

    /// <summary>S, samples the rows come from.</summary>
    public int Samples { get; }

    /// <summary>True when row r is sample r for every r.</summary>
    public bool IsIdentity { get; }

    /// <summary>The map itself, [B].</summary>
    public ReadOnlySpan<int> SampleOfRow => _sampleOfRow;

    public int SampleOf(int row) => _sampleOfRow[row];

    /// <summary>The rows of one sample, ascending.</summary>
    public ReadOnlySpan<int> RowsOf(int sample) => _rowsBySample.AsSpan(_start[sample], _start[sample + 1] - _start[sample]);

    /// <summary>
    /// perSample[s,j] = mean of values[r,j] over the counted rows r of sample s (labels[r] &gt;= 0; empty labels: every
    /// row), summed in float64; 0 for a sample without counted rows. values is [B,width], perSample [S,width].
    /// </summary>
    public void MeanPerSample(ReadOnlySpan<float> values, int width, ReadOnlySpan<int> labels, Span<float> perSample)
    {
        if (values.Length < Rows * width || perSample.Length < Samples * width)
            throw new ArgumentException($"MeanPerSample takes [{Rows},{width}] values and [{Samples},{width}] outputs");
        Span<double> sum = width <= 256 ? stackalloc double[width] : new double[width];
        for (int s = 0; s < Samples; s++)
        {
            sum.Clear();
            int n = 0;
            foreach (int r in RowsOf(s))
            {
                if (!labels.IsEmpty && labels[r] < 0) continue;
                for (int j = 0; j < width; j++) sum[j] += values[r * width + j];
                n++;
            }
            for (int j = 0; j < width; j++) perSample[s * width + j] = n > 0 ? (float)(sum[j] / n) : 0f;
        }
    }
}
