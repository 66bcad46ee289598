using CommandLine;
using MtkdRl.Core;
using MtkdRl.Data.Datasets;
using MtkdRl.Data.Formats;
using MtkdRl.Teachers;
using MtkdRl.Training;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

[Verb("eval", HelpText = "Test accuracy of a model (a checkpoint NAME.json or NAME.safetensors, or a pool teacher POOL/NAME), per class with --detail.")]
public sealed class EvalVerb
{
    [Option("model", Required = true, HelpText = "A checkpoint (.json or .safetensors) or a pool teacher as POOL/NAME.")]
    public string Model { get; set; } = "";

    [Option("data", HelpText = "Dataset folder (default: the full Fashion-MNIST when installed, else the slice in data/).")]
    public string? Data { get; set; }

    [Option("detail", HelpText = "Also print accuracy per class.")]
    public bool Detail { get; set; }

    [Option("threads", Default = 0, HelpText = "CPU threads (0: every core).")]
    public int Threads { get; set; }

    public int Run(IAnsiConsole console)
    {
        var target = Resolve(Model);
        var choice = DatasetLocator.Resolve(Data);
        var data = DatasetLocator.Load(choice.Directory);
        console.MarkupLine(Markup.Escape($"data: {data} [{choice.Reason}]"));
        EvaluationResult result;
        if (target.Imported is { } imported)
        {
            var logits = NpyFile.Read(imported.LogitsPath).ToFiniteMatrix("test logits");
            if (logits.Rows != data.Test.Count || logits.Columns != data.ClassCount)
                throw new MtkdInputException($"{imported.LogitsPath}: test logits are [{logits.Rows},{logits.Columns}], {data.Test.Name} needs [{data.Test.Count},{data.ClassCount}]");
            console.MarkupLine(Markup.Escape($"model: imported teacher '{imported.Name}' (its stored test logits)"));
            result = Evaluator.FromLogits(logits.Values, data.Test);
        }
        else
        {
            using var compute = new CpuCompute(Threads);
            var loaded = Checkpoint.Load(target.Checkpoint!, compute);
            var c = loaded.Config;
            console.MarkupLine(Markup.Escape(
                $"model: {c.Name} ({c.Spec}), {loaded.Model.ParameterCount:N0} parameters, D = {loaded.Model.EmbeddingWidth}, epoch {c.Epoch}, from {loaded.ConfigPath}"));
            if (c.Dataset.Fingerprint != data.FingerprintHex)
                console.MarkupLine(Markup.Escape($"note: trained on {c.Dataset.Name} ({c.Dataset.ShortFingerprint}), evaluating on {data.Name} ({data.ShortFingerprint})"));
            result = Evaluator.Run(loaded.Model, data.Test, loaded.Normalization, c.Name);
        }
        console.MarkupLine(Markup.Escape($"{result.Split}: accuracy {result.Accuracy:P2} ({result.Correct}/{result.Count}), loss {result.Loss:F4}"));
        if (Detail)
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumns("class", "name", "accuracy", "correct", "images");
            foreach (int i in new[] { 0, 2, 3, 4 }) table.Columns[i].RightAligned();
            for (int k = 0; k < result.ClassNames.Count; k++)
                table.AddRow($"{k}", Markup.Escape(result.ClassNames[k]), $"{result.ClassAccuracy(k):P2}", $"{result.ClassCorrect[k]}", $"{result.ClassCount[k]}");
            console.Write(table);
        }
        return 0;
    }

    private sealed record ImportedTarget(string Name, string LogitsPath);

    private sealed record Target(string? Checkpoint, ImportedTarget? Imported);

    /// <summary>NAME.json / NAME.safetensors, POOL/NAME for a pool teacher, or NAME when NAME.json exists.</summary>
    private static Target Resolve(string model)
    {
        if (model.EndsWith(MtkdRl.Teachers.Checkpoint.ConfigExtension, StringComparison.OrdinalIgnoreCase)
            || model.EndsWith(MtkdRl.Teachers.Checkpoint.WeightsExtension, StringComparison.OrdinalIgnoreCase))
        {
            if (!File.Exists(model)) throw new MtkdInputException($"--model {model}: no such file");
            return new Target(model, null);
        }
        string pool = Path.GetDirectoryName(model) ?? "";
        string name = Path.GetFileName(model);
        if (PoolManifest.Exists(pool.Length == 0 ? "." : pool))
        {
            var manifest = PoolManifest.Read(pool.Length == 0 ? "." : pool);
            var teacher = manifest.Teachers.FirstOrDefault(t => t.Name == name)
                ?? throw new MtkdInputException($"--model {model}: the pool has no teacher '{name}' (it has {string.Join(", ", manifest.Teachers.Select(t => t.Name))})");
            return teacher.Kind == TeacherKind.Trained
                ? new Target(Path.Combine(pool, teacher.Checkpoint!), null)
                : new Target(null, new ImportedTarget(name, Path.Combine(pool, teacher.Outputs!.TestLogits)));
        }
        if (File.Exists(model + MtkdRl.Teachers.Checkpoint.ConfigExtension)) return new Target(model, null);
        throw new MtkdInputException($"--model {model}: not a checkpoint (NAME.json or NAME.safetensors) nor a pool teacher (POOL/NAME)");
    }
}
