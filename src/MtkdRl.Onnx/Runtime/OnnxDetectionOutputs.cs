using Microsoft.ML.OnnxRuntime;
using MtkdRl.Core;
using MtkdRl.Training;

namespace MtkdRl.Onnx;

/// <summary>
/// How an ONNX detector gives its outputs (docs/DETECTION.md, "Detectors from other frameworks"): class logits with
/// C+1 columns (background first) and the four <see cref="BoxCoding"/> outputs at every location of a grid of
/// Wg x Hg at one output stride s = H / Hg = W / Wg, each either as planes [N, C+1, Hg, Wg] / [N, 4, Hg, Wg] (what a
/// convolutional head makes) or as location rows [N * L, C+1] / [N * L, 4], row n * L + y * Wg + x (what mtkd
/// exports). The grid is read from the outputs of a run (a row layout does not declare it; its grid is square).
/// </summary>
public sealed record OnnxDetectionOutputs(string BoxesName, int GridWidth, int GridHeight, int Stride, bool LogitsAsRows, bool BoxesAsRows, int Columns)
{
    /// <summary>L = Wg * Hg.</summary>
    public int Locations => GridWidth * GridHeight;

    /// <summary>Box outputs per image, 4 L.</summary>
    public int BoxesWidth => Locations * BoxCoding.Outputs;

    /// <summary>The layouts in words, for the console.</summary>
    public string Layout => $"{GridWidth}x{GridHeight} locations at stride {Stride}; logits as {(LogitsAsRows ? "location rows" : "planes")}, boxes as {(BoxesAsRows ? "location rows" : "planes")}";

    /// <summary>The shape an output should have had for a batch, in a one-line error's words.</summary>
    public string Expected(string name, int batch)
    {
        bool logits = name != BoxesName;
        int width = logits ? Columns : BoxCoding.Outputs;
        return (logits ? LogitsAsRows : BoxesAsRows) ? $"[{batch * Locations},{width}] ({width} values at each of {Locations} locations per image)"
            : $"[{batch},{width},{GridHeight},{GridWidth}] ({width} planes of the {GridWidth}x{GridHeight} grid)";
    }

    /// <summary>Declared class logits: [N, C+1, Hg, Wg] or [N * L, C+1], as far as the declared dims tell.</summary>
    public static void CheckLogits(string path, string name, int[] dims, int columns)
    {
        bool planes = dims.Length == 4 && OnnxTeacherModel.Fits(dims[1], columns);
        bool rows = dims.Length == 2 && OnnxTeacherModel.Fits(dims[1], columns);
        if (!planes && !rows)
            throw new MtkdInputException(
                $"{path}: logits output '{name}' has shape [{OnnxTeacherModel.Text(dims)}], the pool's detectors need {columns} class logits ({columns - 1} classes and background) "
                + $"at every location: planes [N,{columns},Hg,Wg] or location rows [N*L,{columns}]");
    }

    /// <summary>
    /// The box output: the one named, else <c>boxes</c>, else the only other output declared with 4 columns or planes
    /// (not the embedding's, named or called <c>embedding</c>: an embedding of width 4 looks the same).
    /// </summary>
    public static string PickBoxes(string path, IReadOnlyDictionary<string, NodeMetadata> outputs, string logits, string? asked, string? embedding)
    {
        var names = outputs.Keys.Where(n => n != logits && (asked is not null || n != (embedding ?? OnnxExporter.EmbeddingName))).ToList();
        if (asked is not null)
            return names.Contains(asked) ? asked
                : throw new MtkdInputException($"{path}: no output named '{asked}' (--boxes; the model's outputs: {string.Join(", ", outputs.Keys)})");
        if (names.Contains(OnnxExporter.BoxesName)) return OnnxExporter.BoxesName;
        var four = names.Where(n => outputs[n].Dimensions is var d && (d.Length == 2 && d[1] == BoxCoding.Outputs || d.Length == 4 && d[1] == BoxCoding.Outputs)).ToList();
        if (four.Count == 1) return four[0];
        throw new MtkdInputException(four.Count == 0
            ? $"{path}: no output holds box outputs (4 values per location: [N,4,Hg,Wg] or [N*L,4]; the model's outputs: {string.Join(", ", outputs.Keys)}); a detector needs them, name one with --boxes"
            : $"{path}: cannot tell which output holds the boxes ({string.Join(", ", four)}); name it with --boxes");
    }

    /// <summary>The grid and layouts from the shapes a run on <paramref name="batch"/> images gave, or a one-line error.</summary>
    public static OnnxDetectionOutputs Learn(string path, SampleShape sample, int columns, int batch, string logits, long[] logitShape, string boxes, long[] boxShape)
    {
        var (width, height, logitRows) = Grid(path, sample, columns, batch, logits, logitShape);
        var (boxWidth, boxHeight, boxRows) = Grid(path, sample, BoxCoding.Outputs, batch, boxes, boxShape);
        if (boxWidth != width || boxHeight != height)
            throw new MtkdInputException($"{path}: logits '{logits}' are on a {width}x{height} grid and boxes '{boxes}' on {boxWidth}x{boxHeight}; both need the same locations");
        if (sample.Height % height != 0 || sample.Width % width != 0 || sample.Height / height != sample.Width / width)
            throw new MtkdInputException(
                $"{path}: a {width}x{height} grid of locations on {sample.Width}x{sample.Height} images has no single whole output stride (the canvas must divide into the grid)");
        return new OnnxDetectionOutputs(boxes, width, height, sample.Width / width, logitRows, boxRows, columns);
    }

    private static (int Width, int Height, bool Rows) Grid(string path, SampleShape sample, int columns, int batch, string name, long[] shape)
    {
        string got = $"{path}: output '{name}' has shape [{string.Join(",", shape)}] for a batch of {batch}";
        if (shape.Length == 4)
        {
            if (shape[0] != batch || shape[1] != columns || shape[2] < 1 || shape[3] < 1 || shape[2] > sample.Height || shape[3] > sample.Width)
                throw new MtkdInputException($"{got}, expected planes [{batch},{columns},Hg,Wg] on a grid no finer than the {sample.Width}x{sample.Height} images");
            return ((int)shape[3], (int)shape[2], false);
        }
        if (shape.Length != 2 || shape[1] != columns || shape[0] < batch || shape[0] % batch != 0)
            throw new MtkdInputException($"{got}, expected location rows [{batch}*L,{columns}] or planes [{batch},{columns},Hg,Wg]");
        long locations = shape[0] / batch;
        int side = (int)Math.Round(Math.Sqrt(locations));
        if ((long)side * side != locations || sample.Height != sample.Width || side > sample.Width)
            throw new MtkdInputException($"{got}: {locations} location rows per image are not a square grid on the {sample.Width}x{sample.Height} images; export the outputs as planes [N,{columns},Hg,Wg]");
        return (side, side, true);
    }
}
