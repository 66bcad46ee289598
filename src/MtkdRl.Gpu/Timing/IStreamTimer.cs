namespace MtkdRl.Gpu.Timing;

/// <summary>
/// A clock on a device's work queue: <see cref="Start"/> and <see cref="Stop"/> mark the queue (CUDA events on a
/// GPU), <see cref="ElapsedMilliseconds"/> waits for the stop mark and gives the device time between the marks,
/// so the host's cost of issuing the work in between is not counted unless the device waits for it.
/// </summary>
public interface IStreamTimer : IDisposable
{
    void Start();
    void Stop();
    float ElapsedMilliseconds();
}

/// <summary>
/// The stand-in for targets that run each launch before returning (the emulator, ILGPU's CPU accelerator):
/// host time between the marks, after <paramref name="synchronize"/> at the stop.
/// </summary>
public sealed class HostStreamTimer(Action synchronize) : IStreamTimer
{
    private long _start, _end;

    public void Start() => _start = System.Diagnostics.Stopwatch.GetTimestamp();

    public void Stop()
    {
        synchronize();
        _end = System.Diagnostics.Stopwatch.GetTimestamp();
    }

    public float ElapsedMilliseconds() => (float)System.Diagnostics.Stopwatch.GetElapsedTime(_start, _end).TotalMilliseconds;

    public void Dispose() { }
}

/// <summary>
/// A session whose passes can be timed by the device's own clock: <paramref name="launches"/> passes issued back to
/// back between two marks on the device's queue, the same way benchmarks/torch_distill.py times PyTorch with CUDA
/// events. Benchmarks prefer it to a host clock around each pass and a synchronize.
/// </summary>
public interface IDeviceTimedSession
{
    /// <summary>Device milliseconds per pass over <paramref name="launches"/> back-to-back calls of <paramref name="pass"/>.</summary>
    double MillisecondsPerPass(Action pass, int launches);
}

/// <summary>The loop every <see cref="IDeviceTimedSession"/> runs, over the timer its device gives.</summary>
public static class BackToBack
{
    public static double MillisecondsPerPass(IStreamTimer timer, Action pass, int launches)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(launches, 1);
        timer.Start();
        for (int i = 0; i < launches; i++) pass();
        timer.Stop();
        return timer.ElapsedMilliseconds() / (double)launches;
    }
}
