namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// Host memory handed to a copy that takes a raw address (ILGPU's CopyFromCPU/CopyToCPU(ref T, long), the
/// driver's cuMemcpy): the span is pinned for the whole call, so a garbage collection on another thread
/// cannot move a managed array while the copy reads or writes it.
/// </summary>
internal static unsafe class PinnedHost
{
    /// <summary>A copy of <paramref name="count"/> elements from or to the pinned address.</summary>
    public delegate void Copy<T>(ref T first, long count) where T : unmanaged;

    /// <summary>Runs <paramref name="copy"/> on <paramref name="source"/> pinned.</summary>
    public static void Read<T>(ReadOnlySpan<T> source, Copy<T> copy) where T : unmanaged
    {
        fixed (T* p = source) copy(ref *p, source.Length);
    }

    /// <summary>Runs <paramref name="copy"/> on <paramref name="destination"/> pinned.</summary>
    public static void Write<T>(Span<T> destination, Copy<T> copy) where T : unmanaged
    {
        fixed (T* p = destination) copy(ref *p, destination.Length);
    }
}
