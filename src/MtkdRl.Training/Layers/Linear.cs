namespace MtkdRl.Training;

/// <summary>
/// y = x W^T + b on the flattened input: x [B, in], W [out, in], b [out], y [B, out].
/// Backward: dW = dy^T x, db = column sums of dy, dx = dy W (three GEMMs' worth, two when dx is not needed).
/// </summary>
public sealed class Linear : Layer
{
    private readonly CpuCompute _compute;
    private readonly BatchBuffer<float> _output, _gradInput;
    private float[] _input = [];

    public Linear(string name, SampleShape input, int outFeatures, CpuCompute compute, bool bias = true)
        : base(name, input, SampleShape.Vector(outFeatures))
    {
        _compute = compute;
        InFeatures = input.Size;
        OutFeatures = outFeatures;
        Weight = new Parameter($"{name}.weight", [outFeatures, InFeatures], decay: true);
        Bias = bias ? new Parameter($"{name}.bias", [outFeatures], decay: false) : null;
        Parameters = Bias is null ? [Weight] : [Weight, Bias];
        _output = new BatchBuffer<float>(outFeatures);
        _gradInput = new BatchBuffer<float>(InFeatures);
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }
    public override IReadOnlyList<Parameter> Parameters { get; }

    protected override float[] ForwardCore(float[] input, int batch, bool training)
    {
        _input = input;
        var y = _output.Rows(batch);
        _compute.Sgemm(false, true, batch, OutFeatures, InFeatures, 1f, input, 0, InFeatures, Weight.Value, 0, InFeatures,
            0f, y, 0, OutFeatures);
        if (Bias is not null) SimdOps.AddRowToEach(y.AsSpan(0, batch * OutFeatures), batch, Bias.Value);
        return y;
    }

    protected override float[]? BackwardCore(float[] gradOutput, bool inputGradient)
    {
        int batch = Batch;
        _compute.Sgemm(true, false, OutFeatures, InFeatures, batch, 1f, gradOutput, 0, OutFeatures, _input, 0, InFeatures,
            0f, Weight.Grad, 0, InFeatures);
        if (Bias is not null) SimdOps.ColumnSums(gradOutput.AsSpan(0, batch * OutFeatures), batch, Bias.Grad);
        if (!inputGradient) return null;
        var dx = _gradInput.Rows(batch);
        _compute.Sgemm(false, false, batch, InFeatures, OutFeatures, 1f, gradOutput, 0, OutFeatures, Weight.Value, 0,
            InFeatures, 0f, dx, 0, InFeatures);
        return dx;
    }
}
