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

    private sealed class LineObserver(IAnsiConsole console) : IDistillObserver
    {
        public void EpochStarted(string run, int epoch, int epochs, int batches) { }

        public void BatchDone(string run, int batch, double loss) { }

        public void EpochDone(string run, DistillEpochMetrics m) =>
            console.WriteLine($"{run} epoch {m.Epoch}: {Describe(m)}");
    }

    private sealed class BarObserver(ProgressContext ctx) : IDistillObserver
    {
        private ProgressTask? _task;
        private string _label = "";

        public void EpochStarted(string run, int epoch, int epochs, int batches)
        {
            _label = $"{run} epoch {epoch}/{epochs}";
            _task = ctx.AddTask(Markup.Escape(_label), maxValue: batches);
        }

        public void BatchDone(string run, int batch, double loss)
        {
            if (_task is null) return;
            _task.Value = batch;
            if (batch % 10 == 0) _task.Description = Markup.Escape($"{_label} loss {loss:F3}");
        }

        public void EpochDone(string run, DistillEpochMetrics m)
        {
            if (_task is null) return;
            _task.Description = Markup.Escape($"{_label} {Describe(m)}");
            _task.StopTask();
        }
    }
}
