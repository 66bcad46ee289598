using System.Text;
using System.Text.Json;

namespace MtkdRl.Backends;

/// <summary>
/// The JSON form of kernel benchmark records: an array of
/// {op, backend, B, K, C, D, median_ms, p20_ms, p80_ms, bytes, gbps, max_rel_err, variant, device, repeats,
/// copy_gbps, roofline}.
/// Written by hand rather than by reflection so the field names are a documented format, not an accident
/// of C# naming.
/// </summary>
public static class BenchJson
{
    public static string Serialize(IEnumerable<KernelBenchRecord> records)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartArray();
            foreach (var r in records)
            {
                w.WriteStartObject();
                w.WriteString("op", r.Op);
                w.WriteString("backend", r.Backend);
                w.WriteNumber("B", r.B);
                w.WriteNumber("K", r.K);
                w.WriteNumber("C", r.C);
                w.WriteNumber("D", r.D);
                w.WriteNumber("median_ms", Math.Round(r.MedianMs, 6));
                w.WriteNumber("p20_ms", Math.Round(r.P20Ms, 6));
                w.WriteNumber("p80_ms", Math.Round(r.P80Ms, 6));
                w.WriteNumber("bytes", r.Bytes);
                w.WriteNumber("gbps", Math.Round(r.Gbps, 3));
                if (double.IsFinite(r.MaxRelErr)) w.WriteNumber("max_rel_err", r.MaxRelErr);
                else w.WriteNull("max_rel_err");
                w.WriteString("variant", r.Variant);
                w.WriteString("device", r.Device);
                w.WriteNumber("repeats", r.Repeats);
                w.WriteNumber("copy_gbps", Math.Round(r.CopyGbps, 3));
                w.WriteNumber("roofline", Math.Round(r.Roofline, 4));
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }
}
