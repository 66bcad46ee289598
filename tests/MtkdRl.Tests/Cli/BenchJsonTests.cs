using System.Text.Json;
using MtkdRl.Backends;
using MtkdRl.Training;

namespace MtkdRl.Tests.Cli;

/// <summary>The one JSON form of benchmark records: snake_case fields, the documented exceptions, non-finite as null.</summary>
public class BenchJsonTests
{
    private static JsonElement Single<T>(T record)
    {
        using var doc = JsonDocument.Parse(BenchJson.Serialize([record]));
        Assert.Equal(1, doc.RootElement.GetArrayLength());
        return doc.RootElement[0].Clone();
    }

    [Fact]
    public void Kernel_records_keep_their_upper_case_shape_fields_and_write_a_non_finite_error_as_null()
    {
        var r = Single(new KernelBenchRecord("fused", "native", "native-avx2", "cpu", 5, 3, 7, 4, 1.5, 1.25, 2.0, 1000, 0.5,
            double.NaN, 10, 20.0, 0.025));
        Assert.Equal(5, r.GetProperty("B").GetInt32());
        Assert.Equal(3, r.GetProperty("K").GetInt32());
        Assert.Equal(7, r.GetProperty("C").GetInt32());
        Assert.Equal(4, r.GetProperty("D").GetInt32());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("max_rel_err").ValueKind);
        Assert.Equal(1.25, r.GetProperty("p20_ms").GetDouble());
        Assert.Equal("native-avx2", r.GetProperty("variant").GetString());
        Assert.Equal(0.025, r.GetProperty("roofline").GetDouble());
        Assert.Equal(20.0, r.GetProperty("copy_gbps").GetDouble());
    }

    [Fact]
    public void Train_step_records_carry_the_fields_torch_train_step_reads()
    {
        var r = Single(new TrainStepRecord("mlp:8", "1x6x6", 3, 5, 323, 1, "blocked", 3, 2.0, 1.5, 2.5, 0.75, 1.25, 2500));
        Assert.Equal("mtkd", r.GetProperty("framework").GetString());
        Assert.Equal(2500, r.GetProperty("samples_per_s").GetDouble());
        foreach (var f in new[] { "model", "input", "classes", "batch", "parameters", "threads", "gemm", "repeats", "step_median_ms",
                     "step_p20_ms", "step_p80_ms", "forward_median_ms", "backward_median_ms" })
            Assert.True(r.TryGetProperty(f, out _), $"missing field {f}");
    }

    [Fact]
    public void Other_records_are_snake_case_and_a_non_finite_number_does_not_fail_the_write()
    {
        var r = Single(new SelfCheckResult("cuda", "random 4,2,10,3", false, "bad"));
        Assert.Equal("random 4,2,10,3", r.GetProperty("name").GetString());
        Assert.False(r.GetProperty("passed").GetBoolean());
        var timing = Single(new { EpochSeconds = double.PositiveInfinity, K = 4 });
        Assert.Equal(JsonValueKind.Null, timing.GetProperty("epoch_seconds").ValueKind);
        Assert.Equal(4, timing.GetProperty("k").GetInt32());
    }
}
