using ILGPU;

namespace MtkdRl.Gpu.Ilgpu;

/// <summary>
/// Where a group keeps the two class-length rows it touches many times: the student logits (read once per
/// teacher) and the teacher-probability accumulator of dL/dzs. Shared memory when C is small enough to fit
/// (the usual case), otherwise global memory, where L1/L2 absorb the repeated reads. A type parameter
/// rather than a flag, so each variant compiles to direct shared or global accesses.
/// </summary>
public interface IRowScratch
{
    /// <summary>True when the student row must be copied into the scratch before use.</summary>
    bool CopiesStudentRow { get; }

    /// <summary>The student logits of row b: slot <paramref name="slot"/> of shared memory, or zs itself.</summary>
    ArrayView<float> StudentRow(ArrayView<float> zs, int b, int c, int slot);

    /// <summary>The dL/dzs accumulator of row b: a shared slot, or the dzs row it will finally become.</summary>
    ArrayView<float> Accumulator(ArrayView<float> dzs, int b, int c, int slot);
}

/// <summary>Rows in dynamic shared memory, C floats per slot.</summary>
public readonly struct SharedRowScratch : IRowScratch
{
    public bool CopiesStudentRow => true;

    public ArrayView<float> StudentRow(ArrayView<float> zs, int b, int c, int slot) =>
        SharedMemory.GetDynamic<float>().SubView(slot * c, c);

    public ArrayView<float> Accumulator(ArrayView<float> dzs, int b, int c, int slot) =>
        SharedMemory.GetDynamic<float>().SubView(slot * c, c);
}

/// <summary>Rows left in global memory, for class counts whose rows do not fit in shared memory.</summary>
public readonly struct GlobalRowScratch : IRowScratch
{
    public bool CopiesStudentRow => false;

    public ArrayView<float> StudentRow(ArrayView<float> zs, int b, int c, int slot) => zs.SubView(b * c, c);

    public ArrayView<float> Accumulator(ArrayView<float> dzs, int b, int c, int slot) => dzs.SubView(b * c, c);
}
