namespace MtkdRl.Core.Cluster;

/// <summary>
/// This process's job: <see cref="SingleProcess"/> unless a launcher started it (<see cref="Launcher"/>), then the
/// MPI world, initialised on first use and finalised at exit. Commands that can spread their work ask for
/// <see cref="World"/>; the others never touch MPI.
/// </summary>
public static class Job
{
    private static readonly Lazy<ICommunicator> Current = new(Create, LazyThreadSafetyMode.ExecutionAndPublication);

    public static ICommunicator World => Current.Value;

    /// <summary>True once MPI runs in this process (a launcher started it and a command asked for the world).</summary>
    public static bool UsesMpi => Current.IsValueCreated && Current.Value is MpiCommunicator;

    private static ICommunicator Create() => Launcher.Detect() is null ? SingleProcess.Instance : MpiCommunicator.InitWorld();
}
