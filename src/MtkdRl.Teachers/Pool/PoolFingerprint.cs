using System.Security.Cryptography;
using System.Text;

namespace MtkdRl.Teachers;

/// <summary>
/// What a teacher cache is valid for: SHA-256 over every teacher's manifest entry (name, spec, kind, D) and
/// the SHA-256 of each file its outputs come from (checkpoint config and weights, or imported NPYs), and whether it
/// answers with the flip test, in manifest order. Retraining, re-importing, adding, removing or reordering a teacher changes it.
/// </summary>
public static class PoolFingerprint
{
    /// <summary>The pool's fingerprint and, per teacher, the hash of its files (the cache's per-teacher source).</summary>
    public static (string Pool, IReadOnlyList<string> Teachers) Compute(string poolDir, PoolManifest manifest)
    {
        var all = new StringBuilder();
        var perTeacher = new List<string>();
        foreach (var t in manifest.Teachers)
        {
            var files = new StringBuilder();
            foreach (string file in PoolManifest.TeacherFiles(t))
                files.Append(file).Append('=').Append(FileHash.Sha256(Path.Combine(poolDir, file))).Append('\n');
            string source = "sha256:" + Hash(files.ToString());
            perTeacher.Add(source);
            all.Append($"{t.Name}\t{t.Spec}\t{t.Kind}\t{t.EmbeddingWidth}\t{source}{(t.FlipTest ? "\tflip-test" : "")}\n");
        }
        return (Hash(all.ToString()), perTeacher);
    }

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
