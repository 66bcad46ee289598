using MtkdRl.Core;

namespace MtkdRl.Training;

/// <summary>The detection loss of a batch and its two parts.</summary>
public readonly record struct DetectionLossValue(double Total, double Classification, double Box, int Positives);

/// <summary>
/// The loss a detector trains on (docs/DETECTION.md), over the N = B * L location rows of a batch, P of them
/// positive (label >= 1):
/// <code>
///   L = (1/N) sum_l CE(softmax(z_l), y_l)  +  lambda (1/max(P,1)) sum_{l: y_l >= 1} sum_j smoothL1(t_lj - t*_lj)
///   smoothL1(d) = d^2 / (2 beta) for |d| &lt; beta, |d| - beta/2 otherwise
/// </code>
/// with the cross-entropy over C + 1 columns (background included). Sums run in float64; the gradients
/// dL/dz [N, C+1] and dL/dt [N, 4] are written in float32.
/// </summary>
public static class DetectionLoss
{
    public const double BoxWeight = 1.0;
    public const double Beta = 0.1;

    public static DetectionLossValue Compute(ReadOnlySpan<float> classLogits, ReadOnlySpan<float> boxOutputs, ReadOnlySpan<int> labels,
        ReadOnlySpan<float> boxTargets, int columns, Span<float> gradClass, Span<float> gradBox)
    {
        int N = labels.Length;
        if (classLogits.Length != N * columns || gradClass.Length != N * columns || boxOutputs.Length != N * BoxCoding.Outputs
            || boxTargets.Length != N * BoxCoding.Outputs || gradBox.Length != N * BoxCoding.Outputs)
            throw new MtkdInputException($"detection loss: {N} rows need [{N},{columns}] logits and [{N},{BoxCoding.Outputs}] box outputs and targets");
        int positives = 0;
        for (int l = 0; l < N; l++)
        {
            if (labels[l] < 0 || labels[l] >= columns) throw new MtkdInputException($"detection loss: label {labels[l]} of row {l} is outside 0..{columns - 1}");
            if (labels[l] > 0) positives++;
        }
        double ce = 0, box = 0, invN = 1.0 / Math.Max(N, 1), invP = 1.0 / Math.Max(positives, 1);
        for (int l = 0; l < N; l++)
        {
            var z = classLogits.Slice(l * columns, columns);
            var g = gradClass.Slice(l * columns, columns);
            double max = double.NegativeInfinity;
            for (int c = 0; c < columns; c++) max = Math.Max(max, z[c]);
            double sum = 0;
            for (int c = 0; c < columns; c++) sum += Math.Exp(z[c] - max);
            double lse = max + Math.Log(sum);
            ce += lse - z[labels[l]];
            for (int c = 0; c < columns; c++)
                g[c] = (float)((Math.Exp(z[c] - lse) - (c == labels[l] ? 1 : 0)) * invN);
            var gb = gradBox.Slice(l * BoxCoding.Outputs, BoxCoding.Outputs);
            if (labels[l] == 0) { gb.Clear(); continue; }
            for (int j = 0; j < BoxCoding.Outputs; j++)
            {
                double d = (double)boxOutputs[l * BoxCoding.Outputs + j] - boxTargets[l * BoxCoding.Outputs + j];
                double a = Math.Abs(d);
                box += a < Beta ? d * d / (2 * Beta) : a - Beta / 2;
                gb[j] = (float)(BoxWeight * invP * (a < Beta ? d / Beta : Math.Sign(d)));
            }
        }
        double classification = ce * invN, boxLoss = box * invP;
        return new DetectionLossValue(classification + BoxWeight * boxLoss, classification, boxLoss, positives);
    }
}
