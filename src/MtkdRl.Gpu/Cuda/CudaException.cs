using MtkdRl.Core;

namespace MtkdRl.Gpu.Cuda;

/// <summary>A CUDA driver call failed. The message names the call and the driver's error name and text.</summary>
public sealed class CudaException : MtkdException
{
    /// <summary>The driver function that failed, e.g. "cuLaunchKernel".</summary>
    public string Call { get; }

    /// <summary>The CUresult code.</summary>
    public int ErrorCode { get; }

    /// <summary>The CUresult name, e.g. "CUDA_ERROR_INVALID_VALUE".</summary>
    public string ErrorName { get; }

    public CudaException(string call, int errorCode, string errorName, string description, string? detail = null)
        : base($"{call} failed: {errorName} ({description}){(string.IsNullOrEmpty(detail) ? "" : ": " + detail)}")
    {
        Call = call;
        ErrorCode = errorCode;
        ErrorName = errorName;
    }
}
