using System.Runtime.InteropServices;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// The argument array of one launch in the form cuLaunchKernel takes (args[i] points at parameter i's
/// value), built in parameter order and checked against the kernel's <see cref="KernelSignature"/>:
/// a wrong kind or count fails here, on the host, before anything reaches a device.
/// </summary>
internal sealed unsafe class KernelArguments : IDisposable
{
    private readonly KernelSignature _kernel;
    private ulong* _values;
    private void** _pointers;
    private int* _sizes;
    private int _count;

    public KernelArguments(KernelSignature kernel)
    {
        _kernel = kernel;
        int n = Math.Max(1, kernel.Parameters.Count);
        _values = (ulong*)NativeMemory.AllocZeroed((nuint)n, sizeof(ulong));
        _pointers = (void**)NativeMemory.AllocZeroed((nuint)n, (nuint)sizeof(void*));
        _sizes = (int*)NativeMemory.AllocZeroed((nuint)n, sizeof(int));
    }

    public KernelSignature Kernel => _kernel;
    public int Count => _count;
    public void** Pointers => _pointers;
    public int* Sizes => _sizes;

    public KernelArguments Pointer(nint devicePointer) => Add(KernelParameter.Pointer, (ulong)devicePointer);

    public KernelArguments Int(int value) => Add(KernelParameter.Int32, (uint)value);

    public KernelArguments Float(float value) => Add(KernelParameter.Float32, BitConverter.SingleToUInt32Bits(value));

    /// <summary>Throws unless every parameter has been given.</summary>
    public void EnsureComplete()
    {
        if (_count != _kernel.Parameters.Count)
            throw new InvalidOperationException($"kernel {_kernel.Name} takes {_kernel.Parameters.Count} arguments, {_count} were given");
    }

    private KernelArguments Add(KernelParameter kind, ulong bits)
    {
        if (_count >= _kernel.Parameters.Count)
            throw new InvalidOperationException($"kernel {_kernel.Name} takes {_kernel.Parameters.Count} arguments, more were given");
        var expected = _kernel.Parameters[_count];
        if (expected != kind)
            throw new InvalidOperationException($"kernel {_kernel.Name}: argument {_count} should be {expected}, got {kind}");
        // Little-endian: a 4-byte parameter is the low half of its slot.
        _values[_count] = bits;
        _pointers[_count] = &_values[_count];
        _sizes[_count] = KernelSignature.SizeOf(kind);
        _count++;
        return this;
    }

    public void Dispose()
    {
        NativeMemory.Free(_values);
        NativeMemory.Free(_pointers);
        NativeMemory.Free(_sizes);
        _values = null;
        _pointers = null;
        _sizes = null;
    }
}
