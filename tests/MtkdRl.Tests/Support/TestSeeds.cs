namespace MtkdRl.Tests.Support;

/// <summary>
/// Fresh random inputs every run (a fixed seed hides bugs that only some inputs reveal), but every seed
/// is printed in failure messages and can be pinned with MTKD_TEST_SEED to reproduce a failure.
/// </summary>
public static class TestSeeds
{
    private static readonly int? Pinned =
        int.TryParse(Environment.GetEnvironmentVariable("MTKD_TEST_SEED"), out var s) ? s : null;

    public static int Next() => Pinned ?? Random.Shared.Next();
}
