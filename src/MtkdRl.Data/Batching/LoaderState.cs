namespace MtkdRl.Data.Batching;

/// <summary>
/// Where a <see cref="BatchLoader"/> stands, for checkpoints: the generator state the current epoch was derived
/// from (its order and augmentations follow from it alone), the epoch number, and the next batch to serve.
/// Restoring it continues with exactly the batches an uninterrupted run would have produced.
/// </summary>
public sealed record LoaderState(ulong[]? RngState, int Epoch, int NextBatch);
