using MtkdRl.Core;
using MtkdRl.Data.Batching;
using MtkdRl.Data.Datasets;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>Accuracy of a model on one split, overall and per class.</summary>
public sealed record EvaluationResult(string Split, int Correct, int Count, double Loss, int[] ClassCorrect, int[] ClassCount, IReadOnlyList<string> ClassNames)
{
    public double Accuracy => Count == 0 ? 0 : (double)Correct / Count;
    public double ClassAccuracy(int c) => ClassCount[c] == 0 ? 0 : (double)ClassCorrect[c] / ClassCount[c];
}

/// <summary>
/// Runs a model in eval mode (running BatchNorm statistics, no dropout, no augmentation) over a split in
/// dataset order, batch by batch, and scores it; a visitor sees every batch's logits and embeddings.
/// </summary>
public static class Evaluator
{
    public const int DefaultBatchSize = 256;

    /// <summary>Refuses a split whose images or classes do not fit the model, naming both.</summary>
    public static void CheckFits(LabeledImages split, Model model, string modelName)
    {
        var shape = model.InputShape;
        if (split.Channels != shape.Channels || split.Height != shape.Height || split.Width != shape.Width)
            throw new MtkdInputException(
                $"{split.Name}: images are {split.Channels}x{split.Height}x{split.Width}, model {modelName} ({model.Spec}) expects {shape.Channels}x{shape.Height}x{shape.Width}");
        if (split.ClassCount != model.Classes)
            throw new MtkdInputException($"{split.Name}: {split.ClassCount} classes, model {modelName} ({model.Spec}) has {model.Classes}");
    }

    /// <param name="visit">Called per batch with (first row, rows, logits [rows,C], embeddings [rows,D]).</param>
    /// <param name="runsBatch">Which batches (by index) to run; null: all. The counts of the result cover the batches run.</param>
    public static EvaluationResult Run(Model model, LabeledImages split, ChannelNormalization normalization, string modelName,
        int batchSize = DefaultBatchSize, VisitBatch? visit = null, Func<int, bool>? runsBatch = null)
    {
        CheckFits(split, model, modelName);
        var loader = new BatchLoader(split, normalization, BatchLoaderOptions.Evaluation(batchSize));
        var batch = loader.CreateBatch();
        int C = model.Classes, correct = 0, first = 0, counted = 0;
        var classCorrect = new int[C];
        var classCount = new int[C];
        double lossSum = 0;
        for (int index = 0; loader.TryNext(batch); index++)
        {
            int n = batch.Count;
            if (runsBatch is not null && !runsBatch(index))
            {
                first += n;
                continue;
            }
            model.Forward(batch.Images, n, training: false);
            var logits = model.Logits;
            lossSum += SoftmaxCrossEntropy.Loss(logits, batch.Labels, C) * n;
            for (int i = 0; i < n; i++)
            {
                int y = batch.LabelBuffer[i];
                classCount[y]++;
                if (Accuracy.Argmax(logits.Slice(i * C, C)) == y)
                {
                    correct++;
                    classCorrect[y]++;
                }
            }
            visit?.Invoke(first, n, logits, model.Embedding);
            first += n;
            counted += n;
        }
        int count = runsBatch is null ? split.Count : counted;
        return new EvaluationResult(split.Name, correct, count, lossSum / count, classCorrect, classCount, split.ClassNames);
    }

    /// <summary>Scores precomputed logits [N, C] (an imported teacher's) against a split's labels.</summary>
    public static EvaluationResult FromLogits(ReadOnlySpan<float> logits, LabeledImages split)
    {
        int C = split.ClassCount;
        var classCorrect = new int[C];
        var classCount = new int[C];
        int correct = 0;
        for (int i = 0; i < split.Count; i++)
        {
            int y = split.Labels[i];
            classCount[y]++;
            if (Accuracy.Argmax(logits.Slice(i * C, C)) == y)
            {
                correct++;
                classCorrect[y]++;
            }
        }
        double loss = SoftmaxCrossEntropy.Loss(logits, split.Labels, C);
        return new EvaluationResult(split.Name, correct, split.Count, loss, classCorrect, classCount, split.ClassNames);
    }
}

/// <summary>One evaluated batch: rows [first, first + rows) of the split.</summary>
public delegate void VisitBatch(int first, int rows, ReadOnlySpan<float> logits, ReadOnlySpan<float> embeddings);
