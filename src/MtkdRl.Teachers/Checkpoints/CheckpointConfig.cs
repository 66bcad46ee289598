using MtkdRl.Core;
using System.Text.Json.Serialization;

namespace MtkdRl.Teachers;

/// <summary>The dataset a model was trained on: its short name and the fingerprint of both splits.</summary>
public sealed record DatasetIdentity(string Name, string Fingerprint)
{
    public string ShortFingerprint => Fingerprint.Length > 12 ? Fingerprint[..12] : Fingerprint;
}

/// <summary>Per-channel mean and std the model's inputs were normalised with (see ChannelNormalization).</summary>
public sealed record NormalizationRecord(float[] Mean, float[] Std)
{
    /// <summary>The normalisation these numbers describe, to apply to inputs.</summary>
    public MtkdRl.Data.Batching.ChannelNormalization ToChannelNormalization() => new(Mean, Std);
}

/// <summary>Which optimiser trained the model and its scalar state (step, learning rate, hyper-parameters).</summary>
public sealed record OptimizerRecord(string Kind, IReadOnlyDictionary<string, double> Scalars);

/// <summary>A BatchLoader's position: the generator state of the epoch under way, the epoch, the next batch.</summary>
public sealed record LoaderRecord(ulong[]? RngState, int Epoch, int NextBatch);

/// <summary>
/// The JSON half of a checkpoint (<c>NAME.json</c> beside <c>NAME.safetensors</c>): everything needed to rebuild
/// the network, feed it the inputs it was trained on, and continue training exactly where it stopped. The
/// weights file's SHA-256 ties the two halves together, so a config and weights from different saves are
/// refused instead of silently mixed.
/// </summary>
public sealed record CheckpointConfig
{
    public const int CurrentFormat = 1;

    public int FormatVersion { get; init; } = CurrentFormat;

    /// <summary>The model's name (a teacher's name in a pool).</summary>
    public string Name { get; init; } = "";

    /// <summary>The architecture in ModelSpec syntax, canonical form.</summary>
    public string Spec { get; init; } = "";

    /// <summary>The model's task (<see cref="TaskKinds.Name"/>); absent: classification.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Task { get; init; }

    /// <summary>One sample's shape, [Ch, H, W].</summary>
    public int[] InputShape { get; init; } = [];

    /// <summary>C, the number of logits.</summary>
    public int Classes { get; init; }

    public IReadOnlyList<string> ClassNames { get; init; } = [];

    public DatasetIdentity Dataset { get; init; } = new("", "");

    public NormalizationRecord Normalization { get; init; } = new([], []);

    /// <summary>Epochs completed.</summary>
    public int Epoch { get; init; }

    /// <summary>Optimiser steps taken (the schedule's position).</summary>
    public long Step { get; init; }

    /// <summary>How the model is being trained; resuming requires the same recipe.</summary>
    public TrainingRecipe? Recipe { get; init; }

    public OptimizerRecord? Optimizer { get; init; }

    public LoaderRecord? Loader { get; init; }

    /// <summary>State of every random stream inside the model (dropout masks), by stream name.</summary>
    public IReadOnlyDictionary<string, ulong[]> RandomStreams { get; init; } = new Dictionary<string, ulong[]>();

    /// <summary>Test-split accuracy after the last completed epoch, in [0, 1].</summary>
    public double? TestAccuracy { get; init; }

    /// <summary>The weights file's name, in the same folder.</summary>
    public string WeightsFile { get; init; } = "";

    /// <summary>SHA-256 of the weights file, lowercase hex.</summary>
    [JsonPropertyName("weights_sha256")]
    public string WeightsSha256 { get; init; } = "";
}
