using MtkdRl.Core;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// A kernel of kernels/*.cu found its launch contract broken (MTKD_KERNEL_REQUIRE: geometry or shared memory
/// the launcher got wrong), recorded the failing line in its module's flag and returned without writing its
/// outputs. The host reads the flag when it waits for the launch; the context stays usable.
/// </summary>
public sealed class KernelContractException : MtkdException
{
    /// <summary>Where the check failed, e.g. "distill.cu:624".</summary>
    public string Where { get; }

    public KernelContractException(string where, string? detail = null)
        : base($"a kernel's launch contract failed at {where}{(string.IsNullOrEmpty(detail) ? "" : $" ({detail})")}; its outputs were not written")
    {
        Where = where;
    }
}
