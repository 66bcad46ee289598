using MtkdRl.Gpu.Timing;

namespace MtkdRl.Gpu.Cuda;

/// <summary>
/// Times work on a stream with a pair of CUDA events (GPU time, not host time). Every driver call runs through
/// <paramref name="bound"/>, which makes the owner's context current first (and takes its lock, if it has one):
/// events belong to a context, and the calling thread's current one may be anything.
/// </summary>
internal sealed class CudaEventTimer : IStreamTimer
{
    private readonly Action<Action> _bound;
    private readonly nint _stream;
    private nint _start, _end;

    public CudaEventTimer(Action<Action> bound, nint stream)
    {
        _bound = bound;
        _stream = stream;
        bound(() =>
        {
            _start = CudaDriver.CreateEvent();
            try
            {
                _end = CudaDriver.CreateEvent();
            }
            catch
            {
                CudaDriver.TryDestroyEvent(_start);
                _start = 0;
                throw;
            }
        });
    }

    public void Start() => _bound(() => CudaDriver.RecordEvent(_start, _stream));

    public void Stop() => _bound(() => CudaDriver.RecordEvent(_end, _stream));

    /// <summary>Waits for the stop event, then returns the time between the two events.</summary>
    public float ElapsedMilliseconds()
    {
        float ms = 0;
        _bound(() =>
        {
            CudaDriver.SynchronizeEvent(_end);
            ms = CudaDriver.ElapsedMilliseconds(_start, _end);
        });
        return ms;
    }

    public void Dispose()
    {
        if (_start == 0 && _end == 0) return;
        _bound(() =>
        {
            if (_start != 0) CudaDriver.TryDestroyEvent(_start);
            if (_end != 0) CudaDriver.TryDestroyEvent(_end);
        });
        _start = _end = 0;
    }
}
