using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>Predictions from logits: the first index of the row maximum, as the distillation op's hit statistic uses.</summary>
public static class Accuracy
{
    public static int Argmax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int c = 1; c < row.Length; c++) if (row[c] > row[best]) best = c;
        return best;
    }

    /// <summary>Rows of logits [B, C] whose argmax equals the label (rows labelled -1 never count).</summary>
    public static int CountCorrect(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, int classes)
    {
        if (classes <= 0 || logits.Length < (long)labels.Length * classes)
            throw new MtkdInputException($"accuracy: logits hold {logits.Length} values, {labels.Length} rows x {classes} classes need more");
        int correct = 0;
        for (int b = 0; b < labels.Length; b++)
            if (labels[b] >= 0 && Argmax(logits.Slice(b * classes, classes)) == labels[b]) correct++;
        return correct;
    }
}
