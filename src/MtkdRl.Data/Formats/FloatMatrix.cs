namespace MtkdRl.Data.Formats;

/// <summary>A row-major float32 matrix [Rows, Columns] read from a file: teacher logits [N,C] or embeddings [N,D].</summary>
public sealed record FloatMatrix(float[] Values, int Rows, int Columns, string Source)
{
    public ReadOnlySpan<float> Row(int row) => Values.AsSpan(row * Columns, Columns);
}
