using System.Text.Json;
using System.Text.Json.Serialization;
using MtkdRl.Core.Cluster;
using MtkdRl.Reports;

namespace MtkdRl.Distillation;

/// <summary>
/// The run records of a comparison spread over the ranks of an MPI job, sent to rank 0 as JSON (doubles written
/// round-trip exact, NaN included) under their index in the plan.
/// </summary>
internal static class ComparisonRecordExchange
{
    private static readonly JsonSerializerOptions Options = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Collective: fills rank 0's <paramref name="records"/> with every rank's; true on rank 0.</summary>
    public static bool GatherOnRoot(ICommunicator job, RunRecord?[] records)
    {
        var mine = records.Select((r, i) => (Index: i, Record: r)).Where(p => p.Record is not null)
            .Select(p => new IndexedRecord(p.Index, p.Record!)).ToList();
        var parts = job.Gather(JsonSerializer.SerializeToUtf8Bytes(mine, Options));
        if (parts is null) return false;
        foreach (var part in parts)
        {
            foreach (var r in JsonSerializer.Deserialize<List<IndexedRecord>>(part, Options)!) records[r.Index] = r.Record;
        }
        return true;
    }

    private sealed record IndexedRecord(int Index, RunRecord Record);
}
