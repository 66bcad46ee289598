using CommandLine;
using MtkdRl.Cli.Distill;
using MtkdRl.Core;
using MtkdRl.Core.Cluster;
using MtkdRl.Data.Datasets;
using MtkdRl.Distillation;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("distill", HelpText = "Distil a student from a cached teacher pool under one weighting strategy; checkpoints every epoch, --resume continues exactly.")]
public sealed class DistillVerb : DistillOptions
{
    [Option("strategy", Default = "aver", HelpText = "none, aver, fixed, ca-mkd, ebkd, mtkd-rl-paper, mtkd-rl-ppo.")]
    public string Strategy { get; set; } = "aver";

    [Option("seed", Default = 1, HelpText = "Seed of every random choice (initialisation, shuffling, the agent).")]
    public int Seed { get; set; } = 1;

    [Option("out", HelpText = "Run folder (default: runs/distill/STRATEGY-seedN).")]
    public string? Out { get; set; }

    [Option("resume", HelpText = "Continue the run in --out from its last checkpoint (same settings required).")]
    public bool Resume { get; set; }

    [Option("check-replicas", HelpText = "Under mpirun: after every step, check that every rank holds rank 0's weights (a hash compared across the ranks).")]
    public bool CheckReplicas { get; set; }

    public int Run(IAnsiConsole console)
    {
        CheckCommon();
        var job = Job.World;
        console = JobConsole.For(console, job);
        if (Seed < 0) throw new MtkdException($"--seed must be >= 0 (got {Seed})");
        bool scenes = MtkdRl.Cli.Teachers.SegmentationCommands.IsScenes(Data);
        var recipe = Recipe(Strategy, (ulong)Seed, dense: scenes);
        recipe.Validate();
        string outDir = Out ?? Path.Combine("runs", "distill", $"{Strategy}-seed{Seed}");
        if (scenes)
            return DetectionDistillCommand.IsDetectionPool(Pool) ? DetectionDistillCommand.Run(console, this, recipe, outDir, Resume) : DenseDistillCommand.Run(console, this, recipe, outDir, Resume);
        var data = DatasetLocator.Open(Data);
        recipe = ForData(recipe, data.Train.Count);
        using var backend = CreateBackend();
        using var compute = new CpuCompute(Threads);
        var trainer = new DistillTrainer(data, Pool, compute, backend, Backend) { Job = job, CheckReplicas = CheckReplicas };
        var outcome = DistillProgress.Run(console, observer => trainer.Run(recipe, outDir, Resume, observer));
        var s = outcome.Summary;
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"{s.Strategy}, seed {s.Seed}, student {s.Student}, {data.Name}"));
        table.AddColumns("epochs", "final test acc", "best test acc", "train s/epoch", "strategy share");
        foreach (var c in table.Columns) c.RightAligned();
        table.AddRow($"{s.Epochs}", $"{s.FinalTestAcc:P2}", $"{s.BestTestAcc:P2}", $"{s.MeanTrainSecondsPerEpoch:F2}",
            $"{100 * s.MeanStrategySecondsPerEpoch / Math.Max(1e-9, s.MeanTrainSecondsPerEpoch):F1} %");
        console.Write(table);
        if (s.Warning is not null) console.MarkupLine($"[yellow]{Markup.Escape(s.Warning)}[/]");
        console.WriteLine($"wrote {outDir}: student.json/.safetensors, metrics.jsonl{(File.Exists(Path.Combine(outDir, "agent.jsonl")) ? ", agent.jsonl" : "")}, summary.json");
        return 0;
    }
}
