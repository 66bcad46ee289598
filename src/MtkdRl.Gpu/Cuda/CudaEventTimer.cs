namespace MtkdRl.Gpu.Cuda;

/// <summary>Times work on a stream with a pair of CUDA events (GPU time, not host time).</summary>
internal sealed class CudaEventTimer : IDisposable
{
    private nint _start, _end;

    public CudaEventTimer()
    {
        _start = CudaDriver.CreateEvent();
        try
        {
            _end = CudaDriver.CreateEvent();
        }
        catch
        {
            CudaDriver.TryDestroyEvent(_start);
            throw;
        }
    }

    public void Start(nint stream) => CudaDriver.RecordEvent(_start, stream);

    public void Stop(nint stream) => CudaDriver.RecordEvent(_end, stream);

    /// <summary>Waits for the stop event, then returns the time between the two events.</summary>
    public float ElapsedMilliseconds()
    {
        CudaDriver.SynchronizeEvent(_end);
        return CudaDriver.ElapsedMilliseconds(_start, _end);
    }

    public void Dispose()
    {
        if (_start != 0) CudaDriver.TryDestroyEvent(_start);
        if (_end != 0) CudaDriver.TryDestroyEvent(_end);
        _start = _end = 0;
    }
}
