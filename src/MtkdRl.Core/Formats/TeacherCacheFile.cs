using System.Buffers.Binary;
using System.IO.Hashing;
using System.IO.MemoryMappedFiles;
using System.Numerics.Tensors;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MtkdRl.Core.Formats;

/// <summary>Storage precision of cached teacher outputs.</summary>
public enum CacheDType { F32, F16 }

/// <summary>One teacher of a cache: who it is (for staleness checks) and its embedding width.</summary>
/// <param name="Source">What produced the outputs: a checkpoint's hash, or an import's file hashes.</param>
public sealed record CachedTeacher(string Name, string Spec, int EmbeddingWidth, string Source);

/// <summary>
/// The output grid of a dense cache: the student's Width x Height rows per image (pixels, or a detector's locations
/// at <paramref name="Stride"/> canvas pixels apart), <paramref name="Columns"/> class logits per row.
/// </summary>
public sealed record DenseCacheGrid(int Width, int Height, int Stride, int Columns)
{
    public int RowsPerImage => Width * Height;

    public override string ToString() => $"{Width}x{Height} (stride {Stride}, {Columns} classes)";
}

/// <summary>The header of a teacher cache: what was cached, from what, in which layout.</summary>
/// <param name="Task">The task of a dense cache (segmentation, detection); absent for a classification cache.</param>
/// <param name="Grid">A dense cache's grid: a sample is an image and its "classes" are the Grid.RowsPerImage x Grid.Columns logits of its rows.</param>
public sealed record TeacherCacheHeader(
    int Format, [property: JsonPropertyName("dtype")] CacheDType DType, string Split, int Rows, int Classes,
    string DatasetName, string DatasetFingerprint, string PoolFingerprint,
    IReadOnlyList<CachedTeacher> Teachers, string Checksum,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Task = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DenseCacheGrid? Grid = null)
{
    public const int CurrentFormat = 1;
    public int K => Teachers.Count;
    public int F => Teachers.Sum(t => t.EmbeddingWidth);
    public int ElementSize => DType == CacheDType.F32 ? 4 : 2;
    /// <summary>Elements of one sample's record: every teacher's logits, then every teacher's embedding.</summary>
    public long RecordElements => (long)K * Classes + F;
    public long RecordBytes => RecordElements * ElementSize;
}

/// <summary>
/// Teacher outputs for one dataset split, cached once so a distillation epoch costs the same whatever the pool
/// size. Layout (also in docs/TEACHERS.md): magic "MTKDTC01", a little-endian u64 header length, a JSON header, padding to a
/// 64-byte boundary, then one record per sample: the K teachers' logits [K,C] followed by their embeddings
/// side by side [F] (the [B,F] layout of the distillation op), float32 or float16. Sample-major records make a
/// batch gather one contiguous read per sample however many teachers there are. The data section's XxHash3
/// checksum is in the header and verified when the file is opened. The file is memory-mapped for reading.
/// </summary>
public sealed class TeacherCacheFile : IDisposable
{
    public static ReadOnlySpan<byte> Magic => "MTKDTC01"u8;
    public const int Alignment = 64;
    public const long MaxHeaderBytes = 16L << 20;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        WriteIndented = true,
    };

    public string Path { get; }
    public TeacherCacheHeader Header { get; }
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly long _dataOffset;
    private readonly unsafe byte* _base;

    private unsafe TeacherCacheFile(string path, TeacherCacheHeader header, MemoryMappedFile map, MemoryMappedViewAccessor view, long dataOffset)
    {
        Path = path; Header = header; _map = map; _view = view; _dataOffset = dataOffset;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + view.PointerOffset;
    }

    /// <summary>Opens and validates a cache: magic, header, sizes, and (unless skipped) the checksum of every byte.</summary>
    public static TeacherCacheFile Open(string path, bool verifyChecksum = true)
    {
        long length;
        TeacherCacheHeader header;
        long dataOffset;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            length = stream.Length;
            (header, dataOffset) = ReadHeader(path, stream, length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MtkdInputException($"{path}: cannot open ({e.Message})");
        }

        long expected = checked(dataOffset + header.Rows * header.RecordBytes);
        if (length != expected)
            throw new MtkdInputException($"{path}: {(length < expected ? "truncated" : "trailing bytes")}: header describes {header.Rows} records of {header.RecordBytes} bytes ({expected} bytes in all), file has {length}");

        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        var cache = new TeacherCacheFile(path, header, map, view, dataOffset);
        if (verifyChecksum)
        {
            string actual = cache.ComputeChecksum();
            if (actual != header.Checksum)
            {
                cache.Dispose();
                throw new MtkdInputException($"{path}: checksum mismatch (header {header.Checksum}, data {actual}): the file is corrupt; rebuild it with `mtkd teachers cache`");
            }
        }
        return cache;
    }

    private static (TeacherCacheHeader, long) ReadHeader(string path, Stream stream, long length)
    {
        Span<byte> prefix = stackalloc byte[16];
        if (length < 16 || stream.ReadAtLeast(prefix, 16, throwOnEndOfStream: false) < 16 || !prefix[..8].SequenceEqual(Magic))
            throw new MtkdInputException($"{path}: not a teacher cache (bad magic)");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix[8..]);
        if (headerLength > (ulong)MaxHeaderBytes || (long)headerLength > length - 16)
            throw new MtkdInputException($"{path}: header length {headerLength} is larger than the file or the {MaxHeaderBytes}-byte limit");
        var json = new byte[headerLength];
        stream.ReadExactly(json);
        TeacherCacheHeader? header;
        try { header = JsonSerializer.Deserialize<TeacherCacheHeader>(json, Json); }
        catch (JsonException e) { throw new MtkdInputException($"{path}: header is not valid ({e.Message})"); }
        if (header is null || header.Teachers is null || header.Split is null || header.Checksum is null)
            throw new MtkdInputException($"{path}: header is incomplete");
        if (header.Format != TeacherCacheHeader.CurrentFormat)
            throw new MtkdInputException($"{path}: cache format {header.Format} is not supported (this build reads format {TeacherCacheHeader.CurrentFormat}); rebuild it");
        if (header.Rows < 1 || header.Classes < 2 || header.K < 1 || header.Teachers.Any(t => t.EmbeddingWidth < 1))
            throw new MtkdInputException($"{path}: header has an empty or invalid shape ({header.Rows} rows, {header.Classes} classes, {header.K} teachers)");
        return (header, AlignUp(16 + (long)headerLength));
    }

    /// <summary>XxHash3 of the data section, as 16 hex digits.</summary>
    public unsafe string ComputeChecksum()
    {
        var hash = new XxHash3();
        long total = Header.Rows * Header.RecordBytes;
        const int chunk = 1 << 24;
        for (long at = 0; at < total; at += chunk)
            hash.Append(new ReadOnlySpan<byte>(_base + _dataOffset + at, (int)Math.Min(chunk, total - at)));
        return Convert.ToHexStringLower(hash.GetCurrentHash());
    }

    /// <summary>
    /// Copies the teachers' outputs for dataset rows <paramref name="indices"/> into the distillation op's
    /// layouts: logits zt [K,B,C] and embeddings ft [B,F], B = indices.Length, converting float16 to float32.
    /// </summary>
    public unsafe void Gather(ReadOnlySpan<int> indices, Span<float> zt, Span<float> ft)
    {
        var h = Header;
        int b = indices.Length, c = h.Classes, k = h.K, f = h.F;
        if (zt.Length < (long)k * b * c || ft.Length < (long)b * f)
            throw new ArgumentException($"gather of {b} rows needs zt of {(long)k * b * c} and ft of {(long)b * f} floats");
        for (int r = 0; r < b; r++)
        {
            int row = indices[r];
            if ((uint)row >= (uint)h.Rows) throw new ArgumentOutOfRangeException(nameof(indices), $"row {row} is outside the cache's {h.Rows} rows");
            byte* record = _base + _dataOffset + row * h.RecordBytes;
            for (int t = 0; t < k; t++)
                ToSingle(record + (long)t * c * h.ElementSize, zt.Slice((t * b + r) * c, c));
            ToSingle(record + (long)k * c * h.ElementSize, ft.Slice(r * f, f));
        }
    }

    /// <summary>The teachers' embeddings alone for dataset rows <paramref name="indices"/>, as ft [B,F].</summary>
    public unsafe void GatherEmbeddings(ReadOnlySpan<int> indices, Span<float> ft)
    {
        var h = Header;
        int f = h.F;
        if (ft.Length < (long)indices.Length * f) throw new ArgumentException($"gather of {indices.Length} rows needs ft of {(long)indices.Length * f} floats");
        for (int r = 0; r < indices.Length; r++)
        {
            int row = indices[r];
            if ((uint)row >= (uint)h.Rows) throw new ArgumentOutOfRangeException(nameof(indices), $"row {row} is outside the cache's {h.Rows} rows");
            ToSingle(_base + _dataOffset + row * h.RecordBytes + (long)h.K * h.Classes * h.ElementSize, ft.Slice(r * f, f));
        }
    }

    private unsafe void ToSingle(byte* source, Span<float> destination)
    {
        if (Header.DType == CacheDType.F32)
            new ReadOnlySpan<float>(source, destination.Length).CopyTo(destination);
        else
            TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(source, destination.Length), destination);
    }

    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }

    internal static long AlignUp(long n) => (n + Alignment - 1) / Alignment * Alignment;

    /// <summary>
    /// Builds a cache in a temporary file beside the target, one teacher at a time (each teacher runs over the
    /// whole split, and its rows are scattered into the sample-major records), then checksums it and renames
    /// it into place: an interrupted build leaves no half-written cache behind.
    /// </summary>
    public sealed class Writer : IDisposable
    {
        private readonly string _path, _temp;
        private TeacherCacheHeader _header;
        private readonly MemoryMappedFile _map;
        private readonly MemoryMappedViewAccessor _view;
        private readonly long _dataOffset;
        private readonly unsafe byte* _base;
        private readonly int[] _featureOffset;
        private bool _committed;

        public unsafe Writer(string path, TeacherCacheHeader header)
        {
            if (header.Rows < 1 || header.Classes < 2 || header.K < 1)
                throw new MtkdInputException($"{path}: cannot cache {header.Rows} rows, {header.Classes} classes, {header.K} teachers");
            _path = System.IO.Path.GetFullPath(path);
            string dir = System.IO.Path.GetDirectoryName(_path)!;
            if (!Directory.Exists(dir)) throw new MtkdException($"{path}: directory {dir} does not exist");
            _temp = TempFiles.Beside(_path);
            // The checksum placeholder has the final checksum's length, so the header's size is known now.
            _header = header with { Checksum = new string('0', 16) };
            _dataOffset = AlignUp(16 + HeaderBytes(_header).Length);
            long length = checked(_dataOffset + header.Rows * header.RecordBytes);
            _featureOffset = new int[header.K + 1];
            for (int t = 0; t < header.K; t++) _featureOffset[t + 1] = _featureOffset[t] + header.Teachers[t].EmbeddingWidth;
            // The blocks are allocated before the file is mapped: a store into a sparse mapping on a full disk
            // faults (SIGBUS) instead of failing a write call, and that cannot be caught.
            FileStream? file = null;
            try
            {
                file = DiskSpace.CreateReserved(_temp, length, path);
                file.SetLength(length);
                _map = MemoryMappedFile.CreateFromFile(file, null, length, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
                file = null;
                _view = _map.CreateViewAccessor(0, length, MemoryMappedFileAccess.ReadWrite);
            }
            catch (Exception e)
            {
                file?.Dispose();
                _map?.Dispose();
                TryDelete(_temp);
                if (e is IOException or UnauthorizedAccessException)
                    throw new MtkdException($"{path}: cannot create the cache ({e.Message})");
                throw;
            }
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _base = p + _view.PointerOffset;
        }

        /// <summary>Stores teacher <paramref name="teacher"/>'s logits [n,C] and embeddings [n,D] for rows firstRow..firstRow+n.</summary>
        public unsafe void Write(int teacher, int firstRow, ReadOnlySpan<float> logits, ReadOnlySpan<float> embeddings)
        {
            var h = _header;
            int c = h.Classes, d = h.Teachers[teacher].EmbeddingWidth;
            int n = logits.Length / c;
            if (logits.Length != n * c || embeddings.Length != (long)n * d || firstRow < 0 || firstRow + n > h.Rows)
                throw new ArgumentException($"teacher {teacher}: {logits.Length} logits and {embeddings.Length} embedding values do not form rows {firstRow}.. of [{c}] and [{d}]");
            for (int r = 0; r < n; r++)
            {
                byte* record = _base + _dataOffset + (firstRow + r) * h.RecordBytes;
                Store(logits.Slice(r * c, c), record + (long)teacher * c * h.ElementSize);
                Store(embeddings.Slice(r * d, d), record + ((long)h.K * c + _featureOffset[teacher]) * h.ElementSize);
            }
        }

        private unsafe void Store(ReadOnlySpan<float> values, byte* destination)
        {
            if (_header.DType == CacheDType.F32)
                values.CopyTo(new Span<float>(destination, values.Length));
            else
                TensorPrimitives.ConvertToHalf(values, new Span<Half>(destination, values.Length));
        }

        /// <summary>Checksums the data, writes the header, and renames the finished cache over the target.</summary>
        public unsafe TeacherCacheHeader Commit()
        {
            var hash = new XxHash3();
            long total = _header.Rows * _header.RecordBytes;
            const int chunk = 1 << 24;
            for (long at = 0; at < total; at += chunk)
                hash.Append(new ReadOnlySpan<byte>(_base + _dataOffset + at, (int)Math.Min(chunk, total - at)));
            _header = _header with { Checksum = System.Convert.ToHexStringLower(hash.GetCurrentHash()) };
            var json = HeaderBytes(_header);
            var prefix = new Span<byte>(_base, (int)_dataOffset);
            prefix.Fill((byte)' ');
            Magic.CopyTo(prefix);
            BinaryPrimitives.WriteUInt64LittleEndian(prefix[8..], (ulong)(_dataOffset - 16));
            json.CopyTo(prefix[16..]);
            _view.Flush();
            ReleaseMapping();
            File.Move(_temp, _path, overwrite: true);
            _committed = true;
            return _header;
        }

        private static byte[] HeaderBytes(TeacherCacheHeader header) => JsonSerializer.SerializeToUtf8Bytes(header, Json);

        private bool _released;

        private void ReleaseMapping()
        {
            if (_released) return;
            _released = true;
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _map.Dispose();
        }

        public void Dispose()
        {
            ReleaseMapping();
            if (!_committed) TryDelete(_temp);
        }

        private static void TryDelete(string path)
        {
            try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
