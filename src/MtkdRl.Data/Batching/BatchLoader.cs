using MtkdRl.Core;
using MtkdRl.Data.Datasets;

namespace MtkdRl.Data.Batching;

/// <summary>
/// Cuts a split into batches of normalised float32 images, in order or shuffled, optionally augmented, refilling
/// one <see cref="ImageBatch"/> in place. Each epoch takes two numbers from the loader's generator: one orders
/// the epoch, the other seeds its augmentations, batch by batch. So an epoch depends only on the generator state
/// at its start, which is what <see cref="State"/> records, and a restored loader continues mid-epoch exactly.
/// </summary>
public sealed class BatchLoader
{
    private readonly Rng? _rng;
    private readonly int[] _rows;
    private readonly int[] _order;
    private readonly float[] _table;
    private readonly int[] _shiftY, _shiftX;
    private readonly bool[] _flip;
    private ulong[]? _epochStartState;
    private ulong _augmentSeed;
    private bool _inEpoch;
    private int _cursor;

    /// <param name="rows">The dataset rows to iterate (a subset for a teacher trained on part of the data); null = all.
    /// Batches report dataset row indices either way.</param>
    /// <param name="rng">Owned by the loader from now on; needed when shuffling or augmenting.</param>
    public BatchLoader(LabeledImages data, ChannelNormalization normalization, BatchLoaderOptions options, Rng? rng = null, int[]? rows = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(normalization);
        ArgumentNullException.ThrowIfNull(options);
        if (normalization.Channels != data.Channels)
            throw new MtkdInputException($"{data.Name}: images have {data.Channels} channels, the normalisation has {normalization.Channels}");
        if (options.BatchSize < 1) throw new MtkdInputException($"batch size must be at least 1 (got {options.BatchSize})");
        if (options.CropPadding < 0 || options.CropPadding > Math.Min(data.Height, data.Width))
            throw new MtkdInputException($"crop padding {options.CropPadding} must lie in 0..{Math.Min(data.Height, data.Width)} for {data.Height}x{data.Width} images");
        if (rng is null && (options.Shuffle || options.Augments))
            throw new ArgumentException("shuffling and augmentation need a random generator", nameof(rng));

        _rows = rows is null ? Enumerable.Range(0, data.Count).ToArray() : [.. rows];
        foreach (int row in _rows)
            if ((uint)row >= (uint)data.Count)
                throw new ArgumentOutOfRangeException(nameof(rows), row, $"{data.Name} has {data.Count} rows");
        if (_rows.Length == 0) throw new MtkdInputException($"{data.Name}: no rows to load");

        BatchesPerEpoch = options.DropLast ? _rows.Length / options.BatchSize : (_rows.Length + options.BatchSize - 1) / options.BatchSize;
        if (BatchesPerEpoch == 0)
            throw new MtkdInputException($"{data.Name}: {_rows.Length} rows make no full batch of {options.BatchSize} when the last partial batch is dropped");

        Data = data;
        Normalization = normalization;
        Options = options;
        _rng = rng;
        _order = new int[_rows.Length];
        _table = normalization.LookupTable();
        _shiftY = new int[options.BatchSize];
        _shiftX = new int[options.BatchSize];
        _flip = new bool[options.BatchSize];
    }

    public LabeledImages Data { get; }
    public ChannelNormalization Normalization { get; }
    public BatchLoaderOptions Options { get; }

    /// <summary>Rows iterated per epoch (before dropping a partial batch).</summary>
    public int RowCount => _rows.Length;

    public int BatchesPerEpoch { get; }

    public int EpochsCompleted { get; private set; }

    public ImageBatch CreateBatch() => new(Options.BatchSize, Data.Channels, Data.Height, Data.Width);

    /// <summary>What to save in a checkpoint to continue from the next batch.</summary>
    public LoaderState State => _inEpoch
        ? new LoaderState(_epochStartState, EpochsCompleted, _cursor)
        : new LoaderState(_rng?.State, EpochsCompleted, 0);

    public void Restore(LoaderState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if ((state.RngState is null) != (_rng is null))
            throw new MtkdInputException(_rng is null ? "loader state carries a generator state, this loader has no generator" : "loader state has no generator state");
        if (state.Epoch < 0 || state.NextBatch < 0 || state.NextBatch > BatchesPerEpoch)
            throw new MtkdInputException($"loader state (epoch {state.Epoch}, batch {state.NextBatch}) does not fit a loader of {BatchesPerEpoch} batches per epoch");
        if (_rng is not null) _rng.State = state.RngState!;
        EpochsCompleted = state.Epoch;
        _inEpoch = false;
        _cursor = 0;
        if (state.NextBatch > 0)
        {
            BeginEpoch();
            _cursor = state.NextBatch;
        }
    }

    /// <summary>The batches of one epoch (the current one, if a restore left it half done), all in the same buffer.</summary>
    public IEnumerable<ImageBatch> Epoch(ImageBatch? buffer = null)
    {
        ImageBatch batch = buffer ?? CreateBatch();
        while (TryNext(batch)) yield return batch;
    }

    /// <summary>Fills <paramref name="batch"/> with the next batch, starting an epoch if none is under way; false (and the epoch ends) when it is used up.</summary>
    public bool TryNext(ImageBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Capacity < Options.BatchSize || batch.Channels != Data.Channels || batch.Height != Data.Height || batch.Width != Data.Width)
            throw new ArgumentException("batch buffer does not match this loader; use CreateBatch", nameof(batch));
        if (!_inEpoch) BeginEpoch();
        if (_cursor == BatchesPerEpoch)
        {
            _inEpoch = false;
            _cursor = 0;
            EpochsCompleted++;
            return false;
        }
        Fill(batch, _cursor);
        _cursor++;
        return true;
    }

    private void BeginEpoch()
    {
        _rows.CopyTo(_order, 0);
        if (_rng is not null)
        {
            _epochStartState = _rng.State;
            ulong orderSeed = _rng.NextUInt64();
            _augmentSeed = _rng.NextUInt64();
            if (Options.Shuffle) new Rng(orderSeed).Shuffle(_order.AsSpan());
        }
        _inEpoch = true;
        _cursor = 0;
    }

    private void Fill(ImageBatch batch, int batchIndex)
    {
        int first = batchIndex * Options.BatchSize;
        int count = Math.Min(Options.BatchSize, _order.Length - first);
        int ch = Data.Channels, h = Data.Height, w = Data.Width, size = Data.ImageSize;
        bool augment = Options.Augments;
        if (augment) DrawAugmentations(batchIndex, count);

        for (int i = 0; i < count; i++)
        {
            int row = _order[first + i];
            batch.LabelBuffer[i] = Data.Labels[row];
            batch.IndexBuffer[i] = row;
            Span<float> destination = batch.ImageBuffer.AsSpan(i * size, size);
            if (augment)
                ImageConversion.ConvertShifted(Data.Image(row), destination, ch, h, w, _table, _shiftY[i], _shiftX[i], _flip[i]);
            else
                ImageConversion.Convert(Data.Image(row), destination, ch, h, w, _table);
        }
        batch.Count = count;
        batch.Epoch = EpochsCompleted;
        batch.BatchIndex = batchIndex;
    }

    /// <summary>
    /// Each batch's draws come from a generator seeded with (epoch seed + batch index), so any batch can be
    /// reproduced without replaying the ones before it. Consecutive seeds give unrelated streams because the
    /// generator passes its seed through SplitMix64 (a stride equal to SplitMix's own increment would not).
    /// </summary>
    private void DrawAugmentations(int batchIndex, int count)
    {
        var rng = new Rng(_augmentSeed + (ulong)batchIndex);
        int p = Options.CropPadding;
        for (int i = 0; i < count; i++)
        {
            _shiftY[i] = p > 0 ? rng.NextInt(2 * p + 1) - p : 0;
            _shiftX[i] = p > 0 ? rng.NextInt(2 * p + 1) - p : 0;
            _flip[i] = Options.HorizontalFlip && (rng.NextUInt64() >> 63) != 0;
        }
    }
}
