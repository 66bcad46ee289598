using System.Runtime.InteropServices;

namespace MtkdRl.Native;

/// <summary>
/// Cache-line-aligned native memory for a session's outputs: addresses never move, so passes hand them to
/// the kernels without pinning, and full vectors start on line boundaries.
/// </summary>
internal sealed unsafe class NativeBuffer : SafeHandle
{
    public long Length { get; }

    public NativeBuffer(long floats) : base(0, ownsHandle: true)
    {
        Length = floats;
        nuint bytes = (nuint)Math.Max(1, floats) * sizeof(float);
        SetHandle((nint)NativeMemory.AlignedAlloc(bytes, 64));
    }

    public override bool IsInvalid => handle == 0;

    public float* Pointer => (float*)handle;

    protected override bool ReleaseHandle()
    {
        NativeMemory.AlignedFree((void*)handle);
        return true;
    }
}
