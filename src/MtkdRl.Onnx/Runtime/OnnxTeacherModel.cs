using Microsoft.ML.OnnxRuntime;
using MtkdRl.Core;
using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>Which tensors of an ONNX model a teacher reads: the image input, the logits, the embedding and (a detector's) box outputs (null: found by name or position).</summary>
public sealed record OnnxBindings(string? Input = null, string? Logits = null, string? Embedding = null, string? Boxes = null);

/// <summary>
/// An ONNX model run as a teacher through ONNX Runtime, checked against the samples and classes of a pool: one
/// float32 image input [N, Ch, H, W] (channels-last [N, H, W, Ch], or rows [N, Ch*H*W]), an output of logits [N, C],
/// and embeddings [N, D] (any trailing dims, flattened) from a second output or, for a model that exports its logits
/// alone, from the tensor its classifier head reads (<see cref="OnnxEmbeddingTap"/>). A fixed batch axis is served by
/// padding the last batch. A segmentation teacher's logits are maps on the canvas; a detector's are class logits per
/// output location with box outputs beside them (<see cref="OnnxDetectionOutputs"/>).
/// Every problem is one line naming the file.
/// </summary>
public sealed class OnnxTeacherModel : IDisposable
{
    private readonly InferenceSession _session;
    private readonly long[] _inputDims;
    private readonly string[] _outputNames;
    private float[] _padded = [];
    private OnnxDetectionOutputs? _detection;

    private OnnxTeacherModel(string path, InferenceSession session, string input, long[] inputDims, bool channelsLast, string logits, string embedding, string embeddingOutput,
        string embeddingSource, int classes, SampleShape sample, int logitsWidth, string? boxes)
    {
        Path = path;
        _session = session;
        InputName = input;
        _inputDims = inputDims;
        ChannelsLast = channelsLast;
        LogitsName = logits;
        EmbeddingName = embedding;
        EmbeddingSource = embeddingSource;
        Classes = classes;
        LogitsWidth = logitsWidth;
        Sample = sample;
        _outputNames = boxes is null ? [logits, embeddingOutput] : [logits, embeddingOutput, boxes];
        FixedBatch = inputDims[0] > 0 ? (int)inputDims[0] : 0;
        var meta = session.OutputMetadata[embeddingOutput].Dimensions;
        EmbeddingWidth = meta.Length >= 2 && meta.Skip(1).All(d => d > 0) ? meta.Skip(1).Aggregate(1, (a, d) => a * d) : 0;
    }

    public string Path { get; }
    public string InputName { get; }
    public string LogitsName { get; }
    /// <summary>The embedding's tensor: an output of the model, or a tensor inside its graph (<see cref="OnnxEmbeddingTap"/>).</summary>
    public string EmbeddingName { get; }

    /// <summary>Where the embedding comes from, in words (for the console).</summary>
    public string EmbeddingSource { get; }
    public int Classes { get; }

    /// <summary>Logits per image: C for a classifier, (C+1) * H * W for a segmentation teacher's maps, (C+1) * L for a detector's locations.</summary>
    public int LogitsWidth { get; private set; }

    /// <summary>A detector's grid, output layouts and box output (null for other tasks).</summary>
    public OnnxDetectionOutputs? Detection => _detection;
    public SampleShape Sample { get; }

    /// <summary>The model's fixed batch size, or 0 when its batch axis is dynamic.</summary>
    public int FixedBatch { get; }

    /// <summary>D, from the output's declared shape, or from a run on one black image when that is dynamic.</summary>
    public int EmbeddingWidth { get; private set; }

    /// <summary>The metadata the model carries (key, value).</summary>
    public IReadOnlyDictionary<string, string> Metadata => _session.ModelMetadata.CustomMetadataMap;

    /// <summary>Opens <paramref name="path"/> and checks its input and outputs against <paramref name="sample"/> and <paramref name="classes"/>.</summary>
    /// <param name="task">
    /// Segmentation: the logits are maps [N, <paramref name="classes"/>, H, W] on the input's H x W (C+1 channels,
    /// background first) instead of rows [N, C]. Detection: class logits with <paramref name="classes"/> = C+1 columns
    /// per output location and box outputs beside them (<see cref="OnnxDetectionOutputs"/>). For both an embedding taken
    /// from inside the graph is the channel means of a map: the one named, or the one the convolution that makes the
    /// logits reads.
    /// </param>
    public static OnnxTeacherModel Open(string path, OnnxBindings bindings, SampleShape sample, int classes, int threads = 0,
        TaskKind task = TaskKind.Classification)
    {
        bool logitMaps = task != TaskKind.Classification, detection = task == TaskKind.Detection;
        if (!File.Exists(path)) throw new MtkdInputException($"{path}: no such file");
        var session = Load(path, threads, null);
        try
        {
            // A model mtkd exported says its task; one from elsewhere is taken for a classifier.
            if (session.ModelMetadata.CustomMetadataMap.TryGetValue(OnnxExporter.TaskKey, out string? declared))
                TaskKinds.Require(task, TaskKinds.Parse(declared, path), path);
            string input = Pick(path, "input", "--input", session.InputMetadata.Keys.ToList(), bindings.Input, null, 0)!;
            var (dims, channelsLast) = CheckInput(path, input, session.InputMetadata[input], sample);
            var outputs = session.OutputMetadata.Keys.ToList();
            // A detector's class logits: the output so named, else its first one (its box and embedding outputs come after).
            string logits = (outputs.Count == 1 || detection && !outputs.Contains(OnnxExporter.LogitsName)) && bindings.Logits is null ? outputs[0]
                : Pick(path, "output", "--logits", outputs, bindings.Logits, OnnxExporter.LogitsName, 0)!;
            string? boxes = null;
            if (detection)
            {
                OnnxDetectionOutputs.CheckLogits(path, logits, session.OutputMetadata[logits].Dimensions, classes);
                boxes = OnnxDetectionOutputs.PickBoxes(path, session.OutputMetadata, logits, bindings.Boxes, bindings.Embedding);
                CheckFloat(path, logits, session.OutputMetadata[logits]);
                CheckFloat(path, boxes, session.OutputMetadata[boxes]);
            }
            else
            {
                CheckLogits(path, logits, session.OutputMetadata[logits], classes, logitMaps ? sample : null);
            }
            var rest = outputs.Where(o => o != boxes).ToList();
            string? embedding = bindings.Embedding is { } asked && !outputs.Contains(asked) ? null
                : Pick(path, "output", "--embedding", rest, bindings.Embedding, OnnxExporter.EmbeddingName, 1, orNull: true);
            string embeddingOutput, source;
            // A segmentation teacher's second output may be a map too (an auxiliary head): its channel means are the embedding.
            bool mapOutput = logitMaps && embedding is not null && session.OutputMetadata[embedding].Dimensions.Length >= 3;
            if (embedding is null || mapOutput)
            {
                // No output holds it: an output is added to the graph for the tensor the head reads (or the one named).
                var tap = OnnxEmbeddingTap.Add(path, logits, mapOutput ? embedding : bindings.Embedding, logitMaps);
                var edited = Load(path, threads, tap.Model);
                session.Dispose();
                session = edited;
                (embedding, embeddingOutput, source) = (tap.Tensor, OnnxEmbeddingTap.OutputName, tap.Description);
            }
            else
            {
                (embeddingOutput, source) = (embedding, $"output '{embedding}'");
            }
            if (logits == embedding) throw new MtkdInputException($"{path}: logits and embedding are the same output '{logits}'; name the embedding with --embedding");
            CheckFloat(path, embedding, session.OutputMetadata[embeddingOutput]);
            if (embedding == boxes) throw new MtkdInputException($"{path}: boxes and embedding are the same output '{boxes}'; name the embedding with --embedding");
            var model = new OnnxTeacherModel(path, session, input, dims, channelsLast, logits, embedding, embeddingOutput, source, classes, sample,
                detection ? 0 : logitMaps ? classes * sample.Plane : classes, boxes);
            if (detection) model.LearnDetectionOutputs(boxes!);
            else if (model.EmbeddingWidth == 0) model.LearnEmbeddingWidth();
            return model;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>An ONNX Runtime session on the file, or on <paramref name="edited"/> bytes of it.</summary>
    internal static InferenceSession Load(string path, int threads, byte[]? edited)
    {
        try
        {
            using var options = new SessionOptions { IntraOpNumThreads = Math.Max(0, threads), InterOpNumThreads = 1 };
            return edited is null ? new InferenceSession(path, options) : new InferenceSession(edited, options);
        }
        catch (OnnxRuntimeException e)
        {
            string what = edited is null ? "not an ONNX model ONNX Runtime can load" : "ONNX Runtime cannot load the model with its embedding as an output";
            throw new MtkdInputException($"{path}: {what} ({FirstLine(e.Message)})");
        }
    }

    /// <summary>
    /// Runs rows [0, n) of <paramref name="images"/> [n, Ch, H, W]; writes logits [n, <see cref="LogitsWidth"/>] and
    /// embeddings [n, D] (D is <see cref="EmbeddingWidth"/> after the first call), and a detector's box outputs
    /// [n, 4 L] into <paramref name="boxes"/>, each image's values in the model's own layout; a model with a fixed batch
    /// axis runs them in batches of its size. <paramref name="firstRow"/> and <paramref name="split"/> name a non-finite
    /// output's row.
    /// </summary>
    public void Run(ReadOnlySpan<float> images, int n, Span<float> logits, Span<float> embeddings, string split = "batch", int firstRow = 0,
        Span<float> boxes = default)
    {
        int boxWidth = _detection?.BoxesWidth ?? 0;
        if (FixedBatch > 0 && n > FixedBatch)
        {
            // A model with a fixed batch axis takes the rows in runs of that size (the last one padded).
            int size = Sample.Size;
            for (int start = 0; start < n; start += FixedBatch)
            {
                int m = Math.Min(FixedBatch, n - start);
                RunBatch(images.Slice(start * size, m * size), m, logits.Slice(start * LogitsWidth, m * LogitsWidth),
                    embeddings.Slice(start * EmbeddingWidth, m * EmbeddingWidth), split, firstRow + start, boxes.Slice(start * boxWidth, m * boxWidth));
            }
            return;
        }
        RunBatch(images, n, logits, embeddings, split, firstRow, boxes[..(n * boxWidth)]);
    }

    private void RunBatch(ReadOnlySpan<float> images, int n, Span<float> logits, Span<float> embeddings, string split, int firstRow, Span<float> boxes)
    {
        int size = Sample.Size;
        int batch = FixedBatch > 0 ? FixedBatch : n;
        if (_padded.Length != batch * size) _padded = new float[batch * size];
        if (ChannelsLast) ToChannelsLast(images[..(n * size)], _padded);
        else images[..(n * size)].CopyTo(_padded);
        _padded.AsSpan(n * size).Clear();
        long[] shape = [batch, .. _inputDims.Skip(1)];
        using var input = OrtValue.CreateTensorValueFromMemory(_padded, shape);
        using var runOptions = new RunOptions();
        using var results = _session.Run(runOptions, [InputName], [input], _outputNames);
        Copy(results[0], LogitsName, batch, n, LogitsWidth, logits, split, firstRow, _detection is { LogitsAsRows: true } d ? d.Locations : 1);
        Copy(results[1], EmbeddingName, batch, n, EmbeddingWidth, embeddings, split, firstRow);
        if (_detection is { } det) Copy(results[2], det.BoxesName, batch, n, det.BoxesWidth, boxes, split, firstRow, det.BoxesAsRows ? det.Locations : 1);
    }

    /// <summary>Whether the model takes its images channels-last, [N, H, W, Ch] (as TensorFlow and Keras exports do).</summary>
    public bool ChannelsLast { get; }

    /// <summary>Rows [Ch, H, W] as rows [H, W, Ch].</summary>
    private void ToChannelsLast(ReadOnlySpan<float> rows, Span<float> destination)
    {
        int channels = Sample.Channels, pixels = Sample.Height * Sample.Width, size = Sample.Size;
        for (int row = 0; row < rows.Length / size; row++)
        {
            var from = rows.Slice(row * size, size);
            var to = destination.Slice(row * size, size);
            for (int c = 0; c < channels; c++)
                for (int p = 0; p < pixels; p++)
                    to[p * channels + c] = from[c * pixels + p];
        }
    }

    /// <summary>
    /// A detector's grid and layouts, and D, from a run on black images (a location-rows output does not declare how
    /// many rows an image has).
    /// </summary>
    private void LearnDetectionOutputs(string boxes)
    {
        var (batch, shapes) = BlackRun(_outputNames);
        _detection = OnnxDetectionOutputs.Learn(Path, Sample, Classes, batch, LogitsName, shapes[0], boxes, shapes[2]);
        LogitsWidth = _detection.Locations * Classes;
        if (EmbeddingWidth == 0) LearnEmbeddingWidth(shapes[1], batch);
    }

    private void LearnEmbeddingWidth()
    {
        var (batch, shapes) = BlackRun([_outputNames[1]]);
        LearnEmbeddingWidth(shapes[0], batch);
    }

    /// <summary>D from the embedding's shape in a run on <paramref name="batch"/> images, or a one-line error.</summary>
    private void LearnEmbeddingWidth(long[] shape, int batch)
    {
        long width = shape.Skip(1).Aggregate(1L, (a, d) => a * d);
        if (shape.Length < 2 || shape[0] != batch || width < 1 || width > int.MaxValue)
            throw new MtkdInputException($"{Path}: output '{EmbeddingName}' has shape [{string.Join(",", shape)}] for a batch of {batch}, expected one embedding per row [{batch},D]");
        EmbeddingWidth = (int)width;
    }

    /// <summary>The shapes of <paramref name="outputs"/> in a run on black images: one, or the model's fixed batch.</summary>
    private (int Batch, long[][] Shapes) BlackRun(string[] outputs)
    {
        int batch = Math.Max(1, FixedBatch);
        using var input = OrtValue.CreateTensorValueFromMemory(new float[batch * Sample.Size], [batch, .. _inputDims.Skip(1)]);
        using var runOptions = new RunOptions();
        using var results = _session.Run(runOptions, [InputName], [input], outputs);
        return (batch, [.. results.Select(r => r.GetTensorTypeAndShape().Shape)]);
    }

    /// <summary>Checks one output's shape and copies its first <paramref name="n"/> images; <paramref name="rowsPerImage"/> rows of the first axis make one image (a detector's location rows).</summary>
    private void Copy(OrtValue value, string name, int batch, int n, int width, Span<float> destination, string split, int firstRow, int rowsPerImage = 1)
    {
        long[] shape = value.GetTensorTypeAndShape().Shape;
        long per = shape.Skip(1).Aggregate(1L, (a, d) => a * d) * rowsPerImage;
        if (shape.Length < 2 || shape[0] != (long)batch * rowsPerImage || per != width)
            throw new MtkdInputException($"{Path}: output '{name}' has shape [{string.Join(",", shape)}] for a batch of {batch}, expected "
                + (_detection is { } d && (name == LogitsName || name == d.BoxesName) ? d.Expected(name, batch)
                    : $"[{batch},{width}] " + (name != LogitsName ? "(one embedding per row)"
                        : LogitsWidth == Classes ? $"(one logit per class: the pool has {Classes})" : $"({Classes} maps of {Sample.Height}x{Sample.Width})")));
        var data = value.GetTensorDataAsSpan<float>()[..(n * width)];
        int bad = data.IndexOfAnyExceptInRange(float.MinValue, float.MaxValue);
        if (bad >= 0)
            throw new MtkdInputException($"{Path}: output '{name}' is {data[bad]} at {split} row {firstRow + bad / width}, column {bad % width} (not finite)");
        data.CopyTo(destination);
    }

    private static string? Pick(string path, string what, string option, IReadOnlyList<string> names, string? asked, string? conventional, int position,
        bool orNull = false)
    {
        if (asked is not null)
            return names.Contains(asked) ? asked
                : throw new MtkdInputException($"{path}: no {what} named '{asked}' ({option}; the model's {what}s: {string.Join(", ", names)})");
        if (conventional is not null && names.Contains(conventional)) return conventional;
        if (what == "input" && names.Count != 1)
            throw new MtkdInputException($"{path}: the model has {names.Count} inputs ({string.Join(", ", names)}); name the image input with --input");
        if (position < names.Count && (what == "input" || names.Count == 2)) return names[position];
        if (orNull) return null;
        throw new MtkdInputException(
            $"{path}: cannot tell which output is the {(option == "--logits" ? "logits" : "embedding")} (outputs: {string.Join(", ", names)}); name it with {option}");
    }

    /// <summary>The input's dims with the batch axis as declared: [N, Ch, H, W], [N, H, W, Ch] (channels-last) or [N, Ch*H*W].</summary>
    private static (long[] Dims, bool ChannelsLast) CheckInput(string path, string name, NodeMetadata meta, SampleShape sample)
    {
        CheckFloat(path, name, meta);
        int[] dims = meta.Dimensions;
        bool image = dims.Length == 4 && Fits(dims[1], sample.Channels) && Fits(dims[2], sample.Height) && Fits(dims[3], sample.Width);
        // Channels-last only when the declared dims say so: a fully dynamic shape is taken for NCHW.
        bool channelsLast = !image && dims.Length == 4 && dims[3] == sample.Channels && Fits(dims[1], sample.Height) && Fits(dims[2], sample.Width);
        bool rows = dims.Length == 2 && Fits(dims[1], sample.Size);
        if (!image && !channelsLast && !rows)
            throw new MtkdInputException(
                $"{path}: input '{name}' has shape [{Text(dims)}], the pool's images need [N,{sample.Channels},{sample.Height},{sample.Width}] "
                + $"(or [N,{sample.Height},{sample.Width},{sample.Channels}], or rows [N,{sample.Size}])");
        if (image) return ([dims[0], sample.Channels, sample.Height, sample.Width], false);
        return channelsLast ? ([dims[0], sample.Height, sample.Width, sample.Channels], true) : ([dims[0], sample.Size], false);
    }

    /// <summary>Logits [N, C], or with <paramref name="maps"/> [N, C, H, W] on its H x W.</summary>
    private static void CheckLogits(string path, string name, NodeMetadata meta, int classes, SampleShape? maps)
    {
        CheckFloat(path, name, meta);
        int[] dims = meta.Dimensions;
        if (maps is { } m)
        {
            if (dims.Length != 4 || !Fits(dims[1], classes) || !Fits(dims[2], m.Height) || !Fits(dims[3], m.Width))
                throw new MtkdInputException(
                    $"{path}: logits output '{name}' has shape [{Text(dims)}], the pool's scenes need maps [N,{classes},{m.Height},{m.Width}] ({classes - 1} classes and background, on the canvas)"
                    + (dims.Length == 4 && dims[2] > 0 && dims[2] < m.Height ? "; if it is a detector, name its box output with --boxes" : ""));
            return;
        }
        if (dims.Length != 2 || !Fits(dims[1], classes))
            throw new MtkdInputException($"{path}: logits output '{name}' has shape [{Text(dims)}], the pool has {classes} classes (expected [N,{classes}])");
    }

    internal static void CheckFloat(string path, string name, NodeMetadata meta)
    {
        if (!meta.IsTensor || meta.ElementType != typeof(float))
            throw new MtkdInputException($"{path}: '{name}' is {(meta.IsTensor ? meta.ElementType.Name : meta.OnnxValueType.ToString())}, a float32 tensor is needed");
    }

    internal static bool Fits(int declared, int needed) => declared <= 0 || declared == needed;

    internal static string Text(int[] dims) => string.Join(",", dims.Select(d => d <= 0 ? "N" : d.ToString()));

    private static string FirstLine(string message) => message.ReplaceLineEndings(" ").Trim();

    public void Dispose() => _session.Dispose();
}
