using System.Numerics.Tensors;
using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>
/// Mean softmax cross-entropy over the counted rows, as the distillation op counts them: a row labelled -1
/// is ignored (no loss, zero gradient, not in B'), and
///   L = (1/B') sum_b -log softmax(z_b)[y_b],   dL/dz_b = (softmax(z_b) - onehot(y_b)) / B'.
/// With no counted row, L = 0 and every gradient is 0. Log-sum-exp is taken after subtracting the row
/// maximum, so large logits do not overflow; a non-finite logit makes its row's loss NaN.
/// </summary>
public static class SoftmaxCrossEntropy
{
    /// <summary>
    /// Computes the loss of logits [B, C] against labels [B] (B = labels.Length), writes dL/dz into
    /// <paramref name="gradLogits"/> [B, C] scaled by <paramref name="scale"/> (e.g. a loss coefficient),
    /// and returns the unscaled mean loss.
    /// </summary>
    public static double Compute(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, int classes, Span<float> gradLogits,
        float scale = 1f)
    {
        int B = labels.Length;
        Check(logits, labels, classes, gradLogits.Length, B);
        int counted = 0;
        foreach (int y in labels) if (y >= 0) counted++;
        if (counted == 0)
        {
            gradLogits[..(B * classes)].Clear();
            return 0;
        }
        float rowScale = scale / counted;
        double total = 0;
        for (int b = 0; b < B; b++)
        {
            var z = logits.Slice(b * classes, classes);
            var g = gradLogits.Slice(b * classes, classes);
            int y = labels[b];
            if (y < 0)
            {
                g.Clear();
                continue;
            }
            float max = TensorPrimitives.Max(z);
            TensorPrimitives.Subtract(z, max, g);
            TensorPrimitives.Exp(g, g);
            double sum = TensorPrimitives.Sum<float>(g);
            total += Math.Log(sum) + max - z[y];
            TensorPrimitives.Multiply(g, (float)(rowScale / sum), g);
            g[y] -= rowScale;
        }
        return total / counted;
    }

    /// <summary>The mean loss alone (no gradient), e.g. for evaluation.</summary>
    public static double Loss(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, int classes)
    {
        int B = labels.Length;
        Check(logits, labels, classes, B * classes, B);
        int counted = 0;
        double total = 0;
        for (int b = 0; b < B; b++)
        {
            int y = labels[b];
            if (y < 0) continue;
            var z = logits.Slice(b * classes, classes);
            float max = TensorPrimitives.Max(z);
            double sum = 0;
            foreach (float v in z) sum += Math.Exp(v - max);
            total += Math.Log(sum) + max - z[y];
            counted++;
        }
        return counted == 0 ? 0 : total / counted;
    }

    private static void Check(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, int classes, int gradLength, int B)
    {
        if (classes <= 0) throw new MtkdInputException($"cross-entropy: class count must be positive (got {classes})");
        long needed = (long)B * classes;
        if (logits.Length < needed)
            throw new MtkdInputException($"cross-entropy: logits hold {logits.Length} values, {B} rows x {classes} classes need {needed}");
        if (gradLength < needed)
            throw new MtkdInputException($"cross-entropy: gradient holds {gradLength} values, {B} rows x {classes} classes need {needed}");
        for (int b = 0; b < B; b++)
        {
            if (labels[b] < -1 || labels[b] >= classes)
                throw new MtkdInputException($"cross-entropy: label {labels[b]} at row {b} is outside [0, {classes}) (or -1 to ignore the row)");
        }
    }
}
