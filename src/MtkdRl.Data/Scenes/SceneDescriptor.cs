namespace MtkdRl.Data.Scenes;

/// <summary>
/// The dataset.json of a scenes folder: what it is for, its classes (class c is mask value c + 1), the canvas, the
/// generator's settings, and the source it was made from. Its snake_case names are those
/// <see cref="Datasets.DatasetDescriptor"/> reads, so mirror_invariant keeps its meaning.
/// </summary>
public sealed record SceneDescriptor
{
    public const string FileName = "dataset.json";
    public static readonly IReadOnlyList<string> Kinds = ["segmentation", "detection"];

    public string Name { get; init; } = "";
    public IReadOnlyList<string> TaskKinds { get; init; } = [];
    public IReadOnlyList<string> Classes { get; init; } = [];
    public int Background { get; init; } = SceneRenderer.Background;
    public int Ignore { get; init; } = SceneRenderer.Ignore;
    public int Canvas { get; init; }
    public int Channels { get; init; }
    public int TrainCount { get; init; }
    public int TestCount { get; init; }
    public bool MirrorInvariant { get; init; }
    public SceneSourceInfo Source { get; init; } = new();
    public SceneGeneratorInfo Generator { get; init; } = new();
}

public sealed record SceneSourceInfo
{
    public string Name { get; init; } = "";
    public string Fingerprint { get; init; } = "";
    public int Height { get; init; }
    public int Width { get; init; }
}

public sealed record SceneGeneratorInfo
{
    public int ObjectsMin { get; init; }
    public int ObjectsMax { get; init; }
    public double ScaleMin { get; init; }
    public double ScaleMax { get; init; }
    public string Interpolation { get; init; } = "";
    public double HighThreshold { get; init; }
    public double LowThreshold { get; init; }
    public int MinVisiblePixels { get; init; }
    public double MinVisibleFraction { get; init; }
    public ulong Seed { get; init; }
}
