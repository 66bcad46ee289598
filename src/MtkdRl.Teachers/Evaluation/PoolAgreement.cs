using System.Text.Json;
using MtkdRl.Core;

namespace MtkdRl.Teachers;

/// <summary>
/// How much a pool's teachers agree, and how much room that leaves a per-sample mix, over labelled rows
/// (N rows, K teachers, C classes; a sample is one image: one row in classification, its pixels or locations in a
/// dense task). Every figure is a fraction of the counted rows (labelled, and not <see cref="PoolAgreement.Excluded"/>):
/// <list type="bullet">
/// <item>Accuracy[k]: teacher k's argmax is the label;</item>
/// <item>Agreement[j,k]: teachers j and k have the same argmax;</item>
/// <item>EqualMix: the argmax of the mean of the teachers' softmaxes (at T = 1) is the label: the distribution a
///   student trained by equal weights (aver) is pulled towards;</item>
/// <item>BestPerSample: for each sample the one teacher with the most right rows in it, summed: what a mix that picks
///   one teacher per sample (the paper's granularity) would reach with a perfect pick;</item>
/// <item>AnyTeacher: some teacher's argmax is the label (a perfect pick per row).</item>
/// </list>
/// A learned mix has room where BestPerSample (or, per row, AnyTeacher) is well above EqualMix and the best teacher;
/// where the three are close, the teachers know the same things and which one a row follows changes little.
/// </summary>
public sealed record PoolAgreementResult(IReadOnlyList<string> Teachers, long Samples, long Rows, double[] Accuracy, double[,] Agreement,
    double EqualMix, double BestPerSample, double AnyTeacher)
{
    public double BestTeacher => Accuracy.Length == 0 ? 0 : Accuracy.Max();

    /// <summary>The figures as one JSON object (snake_case; agreement as rows of the K x K matrix).</summary>
    public string ToJson() => JsonSerializer.Serialize(new
    {
        teachers = Teachers,
        samples = Samples,
        rows = Rows,
        accuracy = Accuracy,
        agreement = Enumerable.Range(0, Teachers.Count).Select(j => Enumerable.Range(0, Teachers.Count).Select(k => Agreement[j, k]).ToArray()).ToArray(),
        best_teacher = BestTeacher,
        equal_mix = EqualMix,
        best_per_sample = BestPerSample,
        any_teacher = AnyTeacher,
    }, new JsonSerializerOptions { WriteIndented = true }) + "\n";
}

/// <summary>Accumulates <see cref="PoolAgreementResult"/> over batches of samples, in any order.</summary>
public sealed class PoolAgreement
{
    private readonly int _k, _classes;
    private readonly long[] _right;
    private readonly long[,] _same;
    private readonly double[] _mix, _exp;
    private readonly int[] _argmax, _sampleRight;
    private long _rows, _samples, _mixRight, _bestPerSample, _anyRight;

    /// <param name="excluded">A label whose rows are not counted (null: none), e.g. the background of a dense task.</param>
    public PoolAgreement(int k, int classes, int? excluded = null)
    {
        if (k < 1 || classes < 2) throw new ArgumentOutOfRangeException(nameof(k), $"pool agreement needs K >= 1 and C >= 2 (K = {k}, C = {classes})");
        _k = k;
        _classes = classes;
        Excluded = excluded;
        _right = new long[k];
        _same = new long[k, k];
        _mix = new double[classes];
        _exp = new double[classes];
        _argmax = new int[k];
        _sampleRight = new int[k];
    }

    public int? Excluded { get; }

    /// <summary>
    /// Adds samples of <paramref name="rowsPerSample"/> consecutive rows each: <paramref name="logits"/> [K, N, C]
    /// (teacher-major, as the distillation op reads them), <paramref name="labels"/> [N], below 0 for ignored rows.
    /// </summary>
    public void Add(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, int rowsPerSample)
    {
        int n = labels.Length;
        if (rowsPerSample < 1 || n % rowsPerSample != 0)
            throw new ArgumentException($"pool agreement: {n} rows are not whole samples of {rowsPerSample}");
        if (logits.Length != (long)_k * n * _classes)
            throw new ArgumentException($"pool agreement: {logits.Length} logits for K = {_k}, N = {n}, C = {_classes}");
        for (int first = 0; first < n; first += rowsPerSample)
        {
            Array.Clear(_sampleRight);
            for (int row = first; row < first + rowsPerSample; row++)
            {
                int y = labels[row];
                if (y < 0 || y == Excluded) continue;
                if (y >= _classes) throw new MtkdInputException($"pool agreement: label {y} at row {row} is not a class 0..{_classes - 1}");
                AddRow(logits, n, row, y);
            }
            _bestPerSample += _sampleRight.Max();
            _samples++;
        }
    }

    private void AddRow(ReadOnlySpan<float> logits, int n, int row, int y)
    {
        Array.Clear(_mix);
        bool any = false;
        for (int t = 0; t < _k; t++)
        {
            var z = logits.Slice((t * n + row) * _classes, _classes);
            int best = 0;
            float max = z[0];
            for (int c = 1; c < _classes; c++)
                if (z[c] > max) { max = z[c]; best = c; }
            double sum = 0;
            for (int c = 0; c < _classes; c++) sum += _exp[c] = Math.Exp((double)z[c] - max);
            if (!float.IsFinite(max) || !double.IsFinite(sum))
                throw new MtkdInputException($"pool agreement: teacher {t} has a NaN or infinite logit at row {row}");
            for (int c = 0; c < _classes; c++) _mix[c] += _exp[c] / sum;
            _argmax[t] = best;
            if (best == y)
            {
                _right[t]++;
                _sampleRight[t]++;
                any = true;
            }
        }
        for (int j = 0; j < _k; j++)
            for (int t = 0; t < _k; t++)
                if (_argmax[j] == _argmax[t]) _same[j, t]++;
        int mixed = 0;
        for (int c = 1; c < _classes; c++)
            if (_mix[c] > _mix[mixed]) mixed = c;
        if (mixed == y) _mixRight++;
        if (any) _anyRight++;
        _rows++;
    }

    public PoolAgreementResult Result(IReadOnlyList<string> teachers)
    {
        if (teachers.Count != _k) throw new ArgumentException($"pool agreement: {teachers.Count} names for {_k} teachers");
        double Of(long count) => _rows == 0 ? 0 : (double)count / _rows;
        var agreement = new double[_k, _k];
        for (int j = 0; j < _k; j++)
            for (int t = 0; t < _k; t++) agreement[j, t] = Of(_same[j, t]);
        return new PoolAgreementResult(teachers, _samples, _rows, [.. _right.Select(Of)], agreement, Of(_mixRight), Of(_bestPerSample), Of(_anyRight));
    }
}
