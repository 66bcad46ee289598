using System.Runtime.CompilerServices;

namespace MtkdRl.Tests.Support;

/// <summary>
/// Fresh random inputs every run (a fixed seed hides bugs that only some inputs reveal), but every seed drawn
/// is written with the test that drew it to <see cref="LogPath"/> (test-seeds.log beside the test assembly,
/// started afresh by each test run), and MTKD_TEST_SEED pins every seed to reproduce a failure. `.ci/run`
/// prints the failed tests' lines from it.
/// </summary>
public static class TestSeeds
{
    private static readonly int? Pinned =
        int.TryParse(Environment.GetEnvironmentVariable("MTKD_TEST_SEED"), out var s) ? s : null;

    public static readonly string LogPath = Path.Combine(AppContext.BaseDirectory, "test-seeds.log");
    private static readonly object Gate = new();
    private static bool _started;

    public static int Next([CallerMemberName] string test = "", [CallerFilePath] string file = "")
    {
        int seed = Pinned ?? Random.Shared.Next();
        string line = $"{Path.GetFileNameWithoutExtension(file)}.{test} seed {seed}{Environment.NewLine}";
        lock (Gate)
        {
            try
            {
                if (!_started) File.WriteAllText(LogPath, "");
                _started = true;
                File.AppendAllText(LogPath, line);
            }
            catch (IOException) { } // a read-only test folder loses the log, not the test
            catch (UnauthorizedAccessException) { }
        }
        return seed;
    }
}
