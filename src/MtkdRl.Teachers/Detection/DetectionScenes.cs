using System.Text;
using MtkdRl.Core;
using MtkdRl.Core.Formats;
using MtkdRl.Data.Scenes;
using MtkdRl.Training;

namespace MtkdRl.Teachers;

/// <summary>One split of detection scenes: images [N, Ch, S, S] (uint8), each image's boxes, and its COCO instances.</summary>
public sealed record DetectionSplit(string Name, int Count, byte[] Images, IReadOnlyList<IReadOnlyList<DetectionBox>> Boxes, CocoInstances Instances);

/// <summary>
/// A scenes folder (docs/SCENES.md) read for detection: its images, and the boxes of instances_{train,test}.json
/// mapped to rows (image id i + 1 is row i, category id c is class c). The fingerprint hashes dataset.json, the
/// images and the instances files, so a pool or a checkpoint knows the scenes it was made on.
/// </summary>
public sealed class DetectionScenes
{
    private DetectionScenes(string source, SceneDescriptor descriptor, DetectionSplit train, DetectionSplit test, string fingerprint)
    {
        Source = source; Descriptor = descriptor; Train = train; Test = test; FingerprintHex = fingerprint;
    }

    public string Source { get; }
    public SceneDescriptor Descriptor { get; }
    public DetectionSplit Train { get; }
    public DetectionSplit Test { get; }
    public string FingerprintHex { get; }

    public string Name => Descriptor.Name;
    public int ClassCount => Descriptor.Classes.Count;
    public int Channels => Descriptor.Channels;
    public int Canvas => Descriptor.Canvas;
    public SampleShape InputShape => SampleShape.Image(Channels, Canvas, Canvas);

    public static DetectionScenes Load(string dir)
    {
        var scenes = SceneDataset.Load(dir);
        string descriptorPath = SceneFiles.Descriptor(dir);
        if (!scenes.Descriptor.TaskKinds.Contains("detection"))
            throw new MtkdInputException($"{descriptorPath}: task_kinds does not list detection");
        var train = ReadSplit(dir, "train", scenes.Train, scenes.ClassCount);
        var test = ReadSplit(dir, "test", scenes.Test, scenes.ClassCount);
        var hashes = new StringBuilder();
        hashes.Append(FileHash.Sha256(descriptorPath));
        foreach (string split in SceneFiles.Splits)
            hashes.Append(FileHash.Sha256(SceneFiles.Images(dir, split))).Append(FileHash.Sha256(SceneFiles.Instances(dir, split)));
        string fingerprint = FileHash.Sha256(Encoding.ASCII.GetBytes(hashes.ToString()));
        return new DetectionScenes(dir, scenes.Descriptor, train, test, fingerprint);
    }

    private static DetectionSplit ReadSplit(string dir, string split, SceneSplit scenes, int classes)
    {
        string path = SceneFiles.Instances(dir, split);
        if (!File.Exists(path)) throw new MtkdInputException($"{path}: missing (the boxes of the {split} scenes)");
        var instances = CocoFiles.ReadInstances(path);
        if (instances.Images.Count != scenes.Count || instances.Images.Any(i => i.Id < 1 || i.Id > scenes.Count))
            throw new MtkdInputException($"{path}: images must have ids 1..{scenes.Count}, one per row of {SceneFiles.Images(dir, split)}");
        var boxes = new List<DetectionBox>[scenes.Count];
        for (int i = 0; i < boxes.Length; i++) boxes[i] = [];
        foreach (var a in instances.Annotations)
        {
            if (a.CategoryId < 1 || a.CategoryId > classes)
                throw new MtkdInputException($"{path}: annotation {a.Id} has category {a.CategoryId}, outside 1..{classes}");
            if (!(a.Bbox[2] > 0 && a.Bbox[3] > 0))
                throw new MtkdInputException($"{path}: annotation {a.Id} has an empty box");
            boxes[a.ImageId - 1].Add(new DetectionBox((int)a.CategoryId, a.Bbox[0], a.Bbox[1], a.Bbox[2], a.Bbox[3]));
        }
        return new DetectionSplit(split, scenes.Count, scenes.Images, boxes, instances);
    }

    /// <summary>Per channel mean and standard deviation of the training images, in [0, 1] pixel units.</summary>
    public (float[] Mean, float[] Std) Normalization()
    {
        int C = Channels, plane = Canvas * Canvas;
        var sum = new double[C];
        var squares = new double[C];
        var images = Train.Images;
        for (int n = 0; n < Train.Count; n++)
            for (int c = 0; c < C; c++)
            {
                int start = (n * C + c) * plane;
                for (int i = 0; i < plane; i++)
                {
                    double v = images[start + i] / 255.0;
                    sum[c] += v;
                    squares[c] += v * v;
                }
            }
        double count = (double)Train.Count * plane;
        var mean = new float[C];
        var std = new float[C];
        for (int c = 0; c < C; c++)
        {
            double m = sum[c] / count;
            mean[c] = (float)m;
            std[c] = (float)Math.Max(Math.Sqrt(Math.Max(squares[c] / count - m * m, 0)), 1e-6);
        }
        return (mean, std);
    }

    /// <summary>
    /// Writes image <paramref name="row"/> of <paramref name="split"/>, normalised, into <paramref name="x"/> [Ch, S, S],
    /// mirrored left-right when <paramref name="flip"/>.
    /// </summary>
    public void Fill(DetectionSplit split, int row, float[] mean, float[] std, bool flip, Span<float> x)
    {
        int C = Channels, S = Canvas;
        var image = split.Images.AsSpan(row * C * S * S, C * S * S);
        for (int c = 0; c < C; c++)
        {
            float scale = 1f / (255f * std[c]), shift = mean[c] / std[c];
            for (int y = 0; y < S; y++)
                for (int px = 0; px < S; px++)
                    x[(c * S + y) * S + px] = image[(c * S + y) * S + (flip ? S - 1 - px : px)] * scale - shift;
        }
    }

    /// <summary>The boxes of a mirrored canvas of side <paramref name="canvas"/>.</summary>
    public static IReadOnlyList<DetectionBox> Mirrored(IReadOnlyList<DetectionBox> boxes, int canvas) =>
        boxes.Select(b => b with { X = canvas - b.X - b.W }).ToList();
}
