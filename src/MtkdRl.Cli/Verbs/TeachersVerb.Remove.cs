using MtkdRl.Core;
using MtkdRl.Teachers;
using Spectre.Console;

namespace MtkdRl.Cli.Verbs;

public sealed partial class TeachersVerb
{
    /// <summary>`teachers remove --pool P --name NAME`: the teacher out of the pool, with its files and the pool's caches (docs/TEACHERS.md).</summary>
    private int RunRemove(IAnsiConsole console)
    {
        CheckPool();
        string name = string.IsNullOrWhiteSpace(Name) ? throw new MtkdException("teachers remove: --name is required (the teacher to take out of the pool)") : Name;
        var removed = PoolRemoval.Remove(Pool, name);
        string files = removed.Files.Count == 0 ? "no files of its own" : string.Join(", ", removed.Files);
        console.MarkupLine(Markup.Escape($"removed teacher '{removed.Entry.Name}' from {PoolManifest.PathIn(Pool)}"
            + $"{(removed.RecipeChanged ? $" and {PoolRecipe.FileName}" : "")}; deleted {files}"));
        if (removed.Caches.Count > 0)
            console.MarkupLine(Markup.Escape($"deleted the pool's caches ({string.Join(", ", removed.Caches)}); next: mtkd teachers cache --pool {Pool}{(Data is null ? "" : $" --data {Data}")}"));
        return 0;
    }
}
