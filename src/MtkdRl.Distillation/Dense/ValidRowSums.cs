namespace MtkdRl.Distillation;

/// <summary>Per-image sums over a dense step's valid rows (label >= 0), in float64.</summary>
internal static class ValidRowSums
{
    /// <summary>
    /// sums[k] = the sum of perRow[r, k] over the valid rows r of image <paramref name="image"/> (rows image*P to
    /// image*P + P - 1, <paramref name="rowsPerImage"/> = P); returns how many rows were valid.
    /// </summary>
    public static int Of(ReadOnlySpan<float> perRow, ReadOnlySpan<int> labels, int image, int rowsPerImage, Span<double> sums)
    {
        int k = sums.Length, valid = 0;
        sums.Clear();
        for (int r = image * rowsPerImage; r < (image + 1) * rowsPerImage; r++)
        {
            if (labels[r] < 0) continue;
            valid++;
            var row = perRow.Slice(r * k, k);
            for (int t = 0; t < k; t++) sums[t] += row[t];
        }
        return valid;
    }
}
