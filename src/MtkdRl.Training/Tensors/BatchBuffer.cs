namespace MtkdRl.Training;

/// <summary>
/// A per-layer array sized for the largest batch seen so far: a smaller batch (the last partial one) reuses
/// a prefix, so steady-state training allocates nothing.
/// </summary>
internal sealed class BatchBuffer<T>(int valuesPerRow)
{
    private T[] _data = [];

    public int ValuesPerRow { get; } = valuesPerRow;

    /// <summary>An array holding at least <paramref name="rows"/> rows; its contents are undefined when it had to grow.</summary>
    public T[] Rows(int rows)
    {
        long needed = (long)rows * ValuesPerRow;
        if (needed > Array.MaxLength) throw new OutOfMemoryException($"batch of {rows} rows x {ValuesPerRow} values is too large");
        if (_data.Length < needed) _data = new T[needed];
        return _data;
    }

    /// <summary>The array as last sized (empty before the first call to <see cref="Rows"/>).</summary>
    public T[] Current => _data;
}
