using MtkdRl.Core;
using MtkdRl.Training;

namespace MtkdRl.Tests.Training;

public class ModelSpecTests
{
    [Theory]
    [InlineData("linear", "linear")]
    [InlineData(" MLP:64 ", "mlp:64")]
    [InlineData("mlp:512x512", "mlp:512x512")]
    [InlineData("mlp:1024x512,drop0.2,bn", "mlp:1024x512,bn,drop0.2")]
    [InlineData("cnn:32x64", "cnn:32x64")]
    [InlineData("cnn:16,fc64", "cnn:16,fc64")]
    [InlineData("cnn:32x64x128,gap,fc0", "cnn:32x64x128,fc0,gap")]
    [InlineData("cnn:8,nobn,drop0.5,fc128", "cnn:8,nobn,drop0.5")]
    [InlineData("cnn:16x32,c2,fc0", "cnn:16x32,fc0,c2")]
    [InlineData("cnn:16x32,c1", "cnn:16x32")]
    public void Good_specs_parse_to_a_canonical_form_that_round_trips(string text, string canonical)
    {
        var spec = ModelSpec.Parse(text);
        Assert.Equal(canonical, spec.ToString());
        Assert.Equal(spec, ModelSpec.Parse(canonical));
    }

    [Fact]
    public void Parsed_fields()
    {
        var mlp = ModelSpec.Parse("mlp:512x256,drop0.25");
        Assert.Equal(ModelFamily.Mlp, mlp.Family);
        Assert.Equal([512, 256], mlp.Widths);
        Assert.False(mlp.BatchNorm);
        Assert.Equal(0.25, mlp.Dropout);
        var cnn = ModelSpec.Parse("cnn:32x64");
        Assert.True(cnn.BatchNorm);
        Assert.Equal(ModelSpec.DefaultDenseWidth, cnn.DenseWidth);
        Assert.False(cnn.GlobalPool);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("mlp:0", "hidden width '0' must be a positive integer")]
    [InlineData("mlp:", "mlp needs hidden widths")]
    [InlineData("mlp", "mlp needs hidden widths")]
    [InlineData("mlp:64x", "hidden width '' must be a positive integer")]
    [InlineData("mlp:-3", "hidden width '-3' must be a positive integer")]
    [InlineData("mlp:99999999", "exceeds 65536")]
    [InlineData("mlp:abc", "hidden width 'abc'")]
    [InlineData("cnn:32x0", "channel count '0' must be a positive integer")]
    [InlineData("resnet:18", "unknown architecture 'resnet' (known: linear, mlp, cnn, det, unet, fcn)")]
    [InlineData("linear:10", "linear takes no widths")]
    [InlineData("linear,bn", "unknown option 'bn' for linear")]
    [InlineData("mlp:64,gap", "unknown option 'gap' for mlp (known: bn, drop<p>)")]
    [InlineData("mlp:64,drop1", "needs a probability in [0, 1)")]
    [InlineData("mlp:64,dropx", "needs a probability in [0, 1)")]
    [InlineData("mlp:64,bn,bn", "option 'bn' given twice")]
    [InlineData("mlp:64,", "empty option")]
    [InlineData("cnn:32,fc-1", "dense width 'fc-1'")]
    [InlineData("cnn:32,c5", "convolutions per stage 'c5' must be c followed by 1 to 4")]
    public void Bad_specs_give_one_line_errors_naming_the_spec(string text, string fragment)
    {
        var e = Assert.Throws<MtkdInputException>(() => ModelSpec.Parse(text, "student"));
        Assert.StartsWith($"student spec '{text}': ", e.Message);
        Assert.Contains(fragment, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
