namespace MtkdRl.Core.Cluster;

/// <summary>
/// Whether this process was started by an MPI launcher, read from the environment the launchers set:
/// Open MPI's mpirun (OMPI_COMM_WORLD_SIZE), PMIx (PMIX_RANK: mpirun, srun --mpi=pmix), PMI-1/2 (PMI_SIZE) and
/// Slurm's srun (SLURM_PROCID with SLURM_NTASKS). Nothing else decides it, so a process started by hand never
/// loads libmpi.
/// </summary>
public static class Launcher
{
    private static readonly string[] Markers = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"];

    /// <summary>The variable that names the launcher, or null for a process started on its own.</summary>
    public static string? Detect(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        foreach (string name in Markers)
        {
            if (!string.IsNullOrEmpty(environment(name))) return name;
        }
        return !string.IsNullOrEmpty(environment("SLURM_PROCID")) && !string.IsNullOrEmpty(environment("SLURM_NTASKS")) ? "SLURM_PROCID" : null;
    }
}
