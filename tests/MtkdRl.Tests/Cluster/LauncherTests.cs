using MtkdRl.Core.Cluster;

namespace MtkdRl.Tests.Cluster;

public class LauncherTests
{
    [Theory]
    [InlineData("OMPI_COMM_WORLD_SIZE", "2", "OMPI_COMM_WORLD_SIZE")]
    [InlineData("PMIX_RANK", "0", "PMIX_RANK")]
    [InlineData("PMI_SIZE", "4", "PMI_SIZE")]
    [InlineData("SLURM_PROCID", "1", null)] // a batch step without srun's task count is no MPI job
    [InlineData("HOME", "/root", null)]
    public void A_launcher_is_recognised_by_its_variables_only(string name, string value, string? expected)
    {
        var environment = new Dictionary<string, string> { [name] = value };
        Assert.Equal(expected, Launcher.Detect(n => environment.GetValueOrDefault(n)));
    }

    [Fact]
    public void Srun_is_recognised_by_its_rank_and_task_count()
    {
        var environment = new Dictionary<string, string> { ["SLURM_PROCID"] = "1", ["SLURM_NTASKS"] = "2" };
        Assert.Equal("SLURM_PROCID", Launcher.Detect(n => environment.GetValueOrDefault(n)));
    }

    [Fact]
    public void A_process_started_by_hand_is_a_job_of_one_and_leaves_libmpi_unloaded()
    {
        Skip.If(Launcher.Detect() is not null, "the tests themselves run under an MPI launcher");
        Assert.Same(SingleProcess.Instance, Job.World);
        Assert.False(Job.UsesMpi);
        Assert.DoesNotContain(File.ReadAllLines("/proc/self/maps"), line => line.Contains("libmpi.so"));
    }
}
