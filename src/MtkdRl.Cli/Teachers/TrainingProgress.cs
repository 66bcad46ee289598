using MtkdRl.Teachers;
using Spectre.Console;

namespace MtkdRl.Cli.Teachers;

/// <summary>
/// Progress bars for teacher training and cache builds, shown only on an interactive console: redirected output
/// and tests get the final tables alone (the per-epoch figures are in each teacher's metrics file).
/// </summary>
public static class TrainingProgress
{
    /// <summary>One line per teacher that starts from a pretrained backbone (a recipe's "backbone"), before training.</summary>
    public static void ShowBackbones(IAnsiConsole console, PoolRecipe recipe)
    {
        foreach (var t in recipe.Teachers.Where(t => t.Backbone is not null))
            console.MarkupLine(Markup.Escape($"teacher '{t.Name}': its stages start from the backbone {t.Backbone}"));
    }

    public static T Run<T>(IAnsiConsole console, Func<ITrainingObserver?, T> work)
    {
        if (!console.Profile.Capabilities.Interactive) return work(null);
        return Bars(console).Start(ctx => work(new Observer(ctx)));
    }

    public static T RunCache<T>(IAnsiConsole console, Func<Action<string, string, int, int>?, T> work)
    {
        if (!console.Profile.Capabilities.Interactive) return work(null);
        return Bars(console).Start(ctx =>
        {
            var tasks = new Dictionary<string, ProgressTask>();
            return work((split, teacher, done, rows) =>
            {
                string key = $"{split}/{teacher}";
                if (!tasks.TryGetValue(key, out var task)) tasks[key] = task = ctx.AddTask(Markup.Escape($"cache {key}"), maxValue: rows);
                task.Value = done;
            });
        });
    }

    private static Progress Bars(IAnsiConsole console) => console.Progress().AutoClear(false).HideCompleted(false)
        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn());

    private sealed class Observer(ProgressContext ctx) : ITrainingObserver
    {
        private ProgressTask? _task;
        private string _label = "";

        public void EpochStarted(string model, int epoch, int epochs, int batches)
        {
            _label = $"{model} epoch {epoch}/{epochs}";
            _task = ctx.AddTask(Markup.Escape(_label), maxValue: batches);
        }

        public void BatchDone(string model, int batch, double loss)
        {
            if (_task is null) return;
            _task.Value = batch;
            if (batch % 10 == 0) _task.Description = Markup.Escape($"{_label} loss {loss:F3}");
        }

        public void EpochDone(EpochMetrics m)
        {
            if (_task is null) return;
            _task.Description = Markup.Escape($"{_label} loss {m.Loss:F3} train {m.TrainAcc:P1} {(m.TestAcc is double test ? $"test {test:P2}" : "test not scored this epoch")}");
            _task.StopTask();
        }
    }
}
