using MtkdRl.Core;

namespace MtkdRl.Data.Formats;

public enum CifarVariant
{
    /// <summary>CIFAR-10: one label byte per record (10 classes).</summary>
    Cifar10,

    /// <summary>CIFAR-100: a coarse label byte (20 superclasses) then a fine label byte (100 classes) per record.</summary>
    Cifar100,
}

public enum CifarLabelKind
{
    Fine,
    Coarse,
}

/// <summary>
/// The CIFAR binary version: fixed-size records of label byte(s) followed by a 32x32 image stored as 1024 red,
/// 1024 green and 1024 blue bytes, which is already channels-first. There is no header, so a file is valid only
/// if its length is a whole number of records; that is checked for every file before anything is allocated.
/// </summary>
public static class CifarBinary
{
    public const int Channels = 3;
    public const int Height = 32;
    public const int Width = 32;
    public const int ImageBytes = Channels * Height * Width;

    public static int LabelBytes(CifarVariant variant) => variant == CifarVariant.Cifar10 ? 1 : 2;

    public static int RecordBytes(CifarVariant variant) => LabelBytes(variant) + ImageBytes;

    public static int ClassCount(CifarVariant variant, CifarLabelKind kind) =>
        variant == CifarVariant.Cifar10 ? 10 : kind == CifarLabelKind.Fine ? 100 : 20;

    public static string Name(CifarVariant variant) => variant == CifarVariant.Cifar10 ? "CIFAR-10" : "CIFAR-100";

    /// <summary>Records in a file, from its length; throws unless the length is a positive whole number of records.</summary>
    public static int CountRecords(string path, CifarVariant variant)
    {
        using var file = PayloadReader.OpenFile(path);
        return CountRecords(path, variant, file);
    }

    /// <summary>Reads and concatenates the records of several files (CIFAR-10's five training batches).</summary>
    public static (byte[] Pixels, int[] Labels) Read(IReadOnlyList<string> paths, CifarVariant variant, CifarLabelKind kind = CifarLabelKind.Fine)
    {
        var counts = new int[paths.Count];
        long total = 0;
        for (int f = 0; f < paths.Count; f++)
        {
            counts[f] = CountRecords(paths[f], variant);
            total += counts[f];
        }
        if (total * ImageBytes > Array.MaxLength)
            throw new MtkdInputException($"{paths[0]}: {total} {Name(variant)} records together exceed one array");

        var pixels = new byte[total * ImageBytes];
        var labels = new int[total];
        int row = 0;
        for (int f = 0; f < paths.Count; f++)
        {
            ReadInto(paths[f], variant, kind, counts[f], pixels.AsSpan(row * ImageBytes, counts[f] * ImageBytes), labels.AsSpan(row, counts[f]));
            row += counts[f];
        }
        return (pixels, labels);
    }

    private static int CountRecords(string path, CifarVariant variant, FileStream file)
    {
        int record = RecordBytes(variant);
        long length = file.Length;
        if (length == 0) throw new MtkdInputException($"{path}: empty file, expected {Name(variant)} records of {record} bytes");
        if (LooksGzipped(file))
            throw new MtkdInputException($"{path}: is gzip-compressed; extract the CIFAR binary archive first");
        if (length % record != 0)
            throw new MtkdInputException(
                $"{path}: truncated or not {Name(variant)}: {length} bytes is {length / record} whole {record}-byte records and {length % record} bytes over");
        if (length / record > int.MaxValue) throw new MtkdInputException($"{path}: {length / record} records, too many");
        return (int)(length / record);
    }

    /// <summary>A gzip magic cannot start a valid record: 0x1f = 31 is beyond every CIFAR label range.</summary>
    private static bool LooksGzipped(FileStream file)
    {
        Span<byte> magic = stackalloc byte[2];
        int got = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        file.Position = 0;
        return got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    }

    private static void ReadInto(string path, CifarVariant variant, CifarLabelKind kind, int expectedRecords, Span<byte> pixels, Span<int> labels)
    {
        int record = RecordBytes(variant);
        int labelBytes = LabelBytes(variant);
        int labelOffset = variant == CifarVariant.Cifar100 && kind == CifarLabelKind.Fine ? 1 : 0;

        using var reader = PayloadReader.Open(path);
        reader.ExpectPayload((long)expectedRecords * record, $"{expectedRecords} records");
        const int chunkRecords = 1000;
        var chunk = new byte[chunkRecords * record];
        for (int start = 0; start < expectedRecords; start += chunkRecords)
        {
            int n = Math.Min(chunkRecords, expectedRecords - start);
            reader.ReadExactly(chunk.AsSpan(0, n * record), held => $"file shrank while reading: {start} records then {held} bytes");
            for (int r = 0; r < n; r++)
            {
                ReadOnlySpan<byte> rec = chunk.AsSpan(r * record, record);
                if (variant == CifarVariant.Cifar10)
                    CheckLabel(path, "label", rec[0], 10, start + r);
                else
                {
                    CheckLabel(path, "coarse label", rec[0], 20, start + r);
                    CheckLabel(path, "fine label", rec[1], 100, start + r);
                }
                int label = rec[labelOffset];
                labels[start + r] = label;
                rec[labelBytes..].CopyTo(pixels.Slice((start + r) * ImageBytes, ImageBytes));
            }
        }
    }

    private static void CheckLabel(string path, string what, int label, int classes, long record)
    {
        if (label >= classes)
            throw new MtkdInputException($"{path}: {what} {label} at record {record} is outside 0..{classes - 1}");
    }
}
