using MtkdRl.Distillation;
using Spectre.Console;

namespace MtkdRl.Cli.Distill;

/// <summary>
/// Progress of distillation runs: bars on an interactive console; one line per epoch when output is redirected
/// (logs and tests), so a long comparison still shows it is alive.
/// </summary>
public static class DistillProgress
{
    public static T Run<T>(IAnsiConsole console, Func<IDistillObserver, T> work)
    {
        if (!console.Profile.Capabilities.Interactive) return work(new LineObserver(console));
        return console.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx => work(new BarObserver(ctx)));
    }

    public static string Describe(DistillEpochMetrics m) =>
        $"loss {m.Loss:F3} train {m.TrainAcc:P1} test {m.TestAcc:P2} ({m.TrainSeconds:F1} s, strategy {100 * m.StrategySeconds / Math.Max(1e-9, m.TrainSeconds):F1} %)";

    /// <summary>One line per epoch; whole lines, also when parallel runs finish epochs at the same moment.</summary>
    private sealed class LineObserver(IAnsiConsole console) : IDistillObserver
    {
        private readonly Lock _gate = new();

        public void EpochStarted(string run, int epoch, int epochs, int batches) { }

        public void BatchDone(string run, int batch, double loss) { }

        public void EpochDone(string run, DistillEpochMetrics m)
        {
            lock (_gate) console.WriteLine($"{run} epoch {m.Epoch}: {Describe(m)}");
        }
    }

    /// <summary>A bar per run and epoch, tracked by run name so parallel runs each move their own.</summary>
    private sealed class BarObserver(ProgressContext ctx) : IDistillObserver
    {
        private readonly Lock _gate = new();
        private readonly Dictionary<string, (ProgressTask Task, string Label)> _bars = [];

        public void EpochStarted(string run, int epoch, int epochs, int batches)
        {
            string label = $"{run} epoch {epoch}/{epochs}";
            lock (_gate) _bars[run] = (ctx.AddTask(Markup.Escape(label), maxValue: batches), label);
        }

        public void BatchDone(string run, int batch, double loss)
        {
            lock (_gate)
            {
                if (!_bars.TryGetValue(run, out var bar)) return;
                bar.Task.Value = batch;
                if (batch % 10 == 0) bar.Task.Description = Markup.Escape($"{bar.Label} loss {loss:F3}");
            }
        }

        public void EpochDone(string run, DistillEpochMetrics m)
        {
            lock (_gate)
            {
                if (!_bars.TryGetValue(run, out var bar)) return;
                bar.Task.Description = Markup.Escape($"{bar.Label} {Describe(m)}");
                bar.Task.StopTask();
            }
        }
    }
}
