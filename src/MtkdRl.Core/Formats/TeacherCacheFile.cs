using System.Buffers.Binary;
using System.IO.Hashing;
using System.IO.MemoryMappedFiles;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
/// <param name="Codec">How a dense cache's records are stored: absent for plain records (format 1),
/// <see cref="DenseRecordCodec.Name"/> for records compressed one by one (format 2).</param>
public sealed record TeacherCacheHeader(
    int Format, [property: JsonPropertyName("dtype")] CacheDType DType, string Split, int Rows, int Classes,
    string DatasetName, string DatasetFingerprint, string PoolFingerprint,
    IReadOnlyList<CachedTeacher> Teachers, string Checksum,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Task = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DenseCacheGrid? Grid = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Codec = null)
{
    public const int CurrentFormat = 1;
    /// <summary>The format of a cache whose records are compressed (<see cref="Codec"/> set).</summary>
    public const int CompressedFormat = 2;
    public bool Compressed => Codec is not null;
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
/// A dense cache may store its records compressed (format 2, <see cref="DenseRecordCodec"/>): the data section is
/// then Rows + 1 little-endian u64 offsets (record r is bytes offset[r]..offset[r+1] after the table), followed by
/// the compressed records; a gather inflates the records it needs.
/// </summary>
public sealed class TeacherCacheFile : IDisposable
{
    public static ReadOnlySpan<byte> Magic => "MTKDTC01"u8;
    public const int Alignment = 64;
    public const long MaxHeaderBytes = 16L << 20;
    /// <summary>The largest record a compressed cache may hold (one is inflated into memory per gathered image).</summary>
    public const long MaxRecordBytes = 1L << 30;

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
    private readonly long _dataOffset, _dataLength;
    private readonly unsafe byte* _base;
    /// <summary>A compressed cache's offset table (Rows + 1 entries, relative to the end of the table); else null.</summary>
    private readonly long[]? _offsets;
    [ThreadStatic] private static byte[]? _record;

    private unsafe TeacherCacheFile(string path, TeacherCacheHeader header, MemoryMappedFile map, MemoryMappedViewAccessor view, long dataOffset, long length)
    {
        Path = path; Header = header; _map = map; _view = view; _dataOffset = dataOffset; _dataLength = length - dataOffset;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + view.PointerOffset;
        if (header.Compressed)
        {
            try { _offsets = ReadOffsets(path, header, _base + dataOffset, _dataLength); }
            catch { Dispose(); throw; }
        }
    }

    /// <summary>Bytes of a compressed cache's offset table.</summary>
    internal static long TableBytes(int rows) => 8L * (rows + 1);

    private static unsafe long[] ReadOffsets(string path, TeacherCacheHeader h, byte* data, long dataLength)
    {
        long table = TableBytes(h.Rows);
        if (dataLength < table) throw new MtkdInputException($"{path}: truncated: the offset table of {h.Rows} records needs {table} bytes, the data section has {dataLength}");
        var offsets = new long[h.Rows + 1];
        var raw = new ReadOnlySpan<byte>(data, (int)table);
        for (int r = 0; r <= h.Rows; r++)
        {
            ulong at = BinaryPrimitives.ReadUInt64LittleEndian(raw[(8 * r)..]);
            if ((r < h.Rows && at > (ulong)(dataLength - table)) || at > (ulong)long.MaxValue || (r > 0 && (long)at <= offsets[r - 1]) || (r == 0 && at != 0))
                throw new MtkdInputException($"{path}: offset table entry {r} ({at}) is out of order or past the end of the data");
            offsets[r] = (long)at;
        }
        if (offsets[h.Rows] != dataLength - table)
            throw new MtkdInputException($"{path}: {(offsets[h.Rows] < dataLength - table ? "trailing bytes" : "truncated")}: the offset table ends at {offsets[h.Rows]}, the records take {dataLength - table} bytes");
        return offsets;
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

        if (!header.Compressed)
        {
            long expected = checked(dataOffset + header.Rows * header.RecordBytes);
            if (length != expected)
                throw new MtkdInputException($"{path}: {(length < expected ? "truncated" : "trailing bytes")}: header describes {header.Rows} records of {header.RecordBytes} bytes ({expected} bytes in all), file has {length}");
        }
        else if (length < dataOffset)
            throw new MtkdInputException($"{path}: truncated: the data section would start at byte {dataOffset}, the file has {length}");

        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        var cache = new TeacherCacheFile(path, header, map, view, dataOffset, length);
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
        catch (JsonException e) { throw new MtkdInputException($"{path}: header is not valid ({JsonErrorText.Describe(e)})"); }
        if (header is null || header.Teachers is null || header.Split is null || header.Checksum is null)
            throw new MtkdInputException($"{path}: header is incomplete");
        if (header.Format is not (TeacherCacheHeader.CurrentFormat or TeacherCacheHeader.CompressedFormat))
            throw new MtkdInputException($"{path}: cache format {header.Format} is not supported (this build reads formats {TeacherCacheHeader.CurrentFormat} and {TeacherCacheHeader.CompressedFormat}); rebuild it");
        if (header.Rows < 1 || header.Classes < 2 || header.K < 1 || header.Teachers.Any(t => t.EmbeddingWidth < 1))
            throw new MtkdInputException($"{path}: header has an empty or invalid shape ({header.Rows} rows, {header.Classes} classes, {header.K} teachers)");
        if ((header.Format == TeacherCacheHeader.CompressedFormat) != header.Compressed || (header.Compressed && header.Codec != DenseRecordCodec.Name))
            throw new MtkdInputException($"{path}: format {header.Format} with codec '{header.Codec ?? "none"}' is not a layout this build reads; rebuild it");
        if (header.Compressed && (header.Grid is not { Width: > 0, Height: > 0, Columns: > 1 } g || (long)g.Width * g.Height * g.Columns != header.Classes))
            throw new MtkdInputException($"{path}: a compressed cache needs a grid whose rows x columns make its {header.Classes} values per teacher");
        if (header.Compressed && header.RecordBytes > MaxRecordBytes)
            throw new MtkdInputException($"{path}: records of {header.RecordBytes} bytes are over the {MaxRecordBytes}-byte limit of a compressed cache");
        return (header, AlignUp(16 + (long)headerLength));
    }

    /// <summary>XxHash3 of the data section, as 16 hex digits.</summary>
    public unsafe string ComputeChecksum()
    {
        return Checksum(_base + _dataOffset, _dataLength);
    }

    private static unsafe string Checksum(byte* data, long length)
    {
        var hash = new XxHash3();
        const int chunk = 1 << 24;
        for (long at = 0; at < length; at += chunk)
            hash.Append(new ReadOnlySpan<byte>(data + at, (int)Math.Min(chunk, length - at)));
        return Convert.ToHexStringLower(hash.GetCurrentHash());
    }

    /// <summary>
    /// Record <paramref name="row"/>'s bytes: the mapped record itself, or a compressed cache's record inflated into
    /// this thread's buffer (valid until the thread's next call).
    /// </summary>
    private unsafe byte* Record(int row)
    {
        var h = Header;
        if ((uint)row >= (uint)h.Rows) throw new ArgumentOutOfRangeException(nameof(row), $"row {row} is outside the cache's {h.Rows} rows");
        if (_offsets is null) return _base + _dataOffset + row * h.RecordBytes;
        int bytes = (int)h.RecordBytes;
        if (_record is null || _record.Length < bytes) _record = GC.AllocateUninitializedArray<byte>(bytes, pinned: true);
        byte* start = _base + _dataOffset + TableBytes(h.Rows) + _offsets[row];
        try
        {
            DenseRecordCodec.Decode(new ReadOnlySpan<byte>(start, (int)(_offsets[row + 1] - _offsets[row])), _record.AsSpan(0, bytes), h.Grid!, h.K, h.ElementSize);
        }
        catch (InvalidDataException e)
        {
            throw new MtkdInputException($"{Path}: record {row} does not decode ({e.Message}); rebuild the cache with `mtkd teachers cache`");
        }
        return (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_record));
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
        if (_offsets is not null && b > 1)
        {
            // Inflating a record costs far more than copying it: spread the images over the cores.
            var rows = indices.ToArray();
            fixed (float* zp = zt, fp = ft)
            {
                nint z = (nint)zp, fv = (nint)fp;
                int zl = zt.Length, fl = ft.Length;
                try { Parallel.For(0, b, r => GatherOne(rows[r], r, b, new Span<float>((float*)z, zl), new Span<float>((float*)fv, fl))); }
                catch (AggregateException e) when (e.InnerExceptions.Count > 0)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
                }
            }
            return;
        }
        for (int r = 0; r < b; r++) GatherOne(indices[r], r, b, zt, ft);
    }

    private unsafe void GatherOne(int row, int r, int b, Span<float> zt, Span<float> ft)
    {
        var h = Header;
        int c = h.Classes, k = h.K, f = h.F;
        byte* record = Record(row);
        for (int t = 0; t < k; t++)
            ToSingle(record + (long)t * c * h.ElementSize, zt.Slice((t * b + r) * c, c));
        ToSingle(record + (long)k * c * h.ElementSize, ft.Slice(r * f, f));
    }

    /// <summary>The teachers' embeddings alone for dataset rows <paramref name="indices"/>, as ft [B,F].</summary>
    public unsafe void GatherEmbeddings(ReadOnlySpan<int> indices, Span<float> ft)
    {
        var h = Header;
        int f = h.F;
        if (ft.Length < (long)indices.Length * f) throw new ArgumentException($"gather of {indices.Length} rows needs ft of {(long)indices.Length * f} floats");
        for (int r = 0; r < indices.Length; r++)
            ToSingle(Record(indices[r]) + (long)h.K * h.Classes * h.ElementSize, ft.Slice(r * f, f));
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
            if (header.Compressed && (header.Codec != DenseRecordCodec.Name || header.Grid is null || header.Format != TeacherCacheHeader.CompressedFormat))
                throw new ArgumentException($"a compressed cache is format {TeacherCacheHeader.CompressedFormat}, codec {DenseRecordCodec.Name}, with a grid");
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

        /// <summary>Checksums the data, writes the header, and renames the finished cache over the target (a
        /// compressed cache: compresses the records into a second temporary file, which becomes the cache, telling
        /// <paramref name="compressed"/> (records done, records) as it goes).</summary>
        public unsafe TeacherCacheHeader Commit(Action<int, int>? compressed = null)
        {
            if (_header.Compressed) return CommitCompressed(compressed);
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

        /// <summary>Records compressed per parallel step; bounds the compressed bytes held before they are written.</summary>
        private const int CompressBlock = 64;

        private unsafe TeacherCacheHeader CommitCompressed(Action<int, int>? progress)
        {
            var h = _header;
            string temp = TempFiles.Beside(_path);
            long tableBytes = TableBytes(h.Rows), recordBytes = h.RecordBytes;
            byte* records = _base + _dataOffset;
            try
            {
                using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20))
                {
                    // Prefix, header and table are written last, once the offsets and the checksum are known.
                    file.SetLength(_dataOffset + tableBytes);
                    file.Position = _dataOffset + tableBytes;
                    var offsets = new long[h.Rows + 1];
                    var blobs = new byte[CompressBlock][];
                    for (int first = 0; first < h.Rows; first += CompressBlock)
                    {
                        int n = Math.Min(CompressBlock, h.Rows - first);
                        nint baseAddress = (nint)records;
                        Parallel.For(0, n, i =>
                        {
                            var record = new ReadOnlySpan<byte>((byte*)baseAddress + (first + i) * recordBytes, (int)recordBytes);
                            blobs[i] = DenseRecordCodec.Encode(record, h.Grid!, h.K, h.ElementSize);
                        });
                        for (int i = 0; i < n; i++)
                        {
                            file.Write(blobs[i]);
                            offsets[first + i + 1] = offsets[first + i] + blobs[i].Length;
                            blobs[i] = null!;
                        }
                        progress?.Invoke(first + n, h.Rows);
                    }
                    var table = new byte[tableBytes];
                    for (int r = 0; r <= h.Rows; r++) BinaryPrimitives.WriteUInt64LittleEndian(table.AsSpan(8 * r), (ulong)offsets[r]);
                    file.Position = _dataOffset;
                    file.Write(table);
                    file.Flush();
                    // The checksum covers the data section as stored: the table, then the records.
                    var hash = new XxHash3();
                    var chunk = new byte[1 << 22];
                    file.Position = _dataOffset;
                    int read;
                    while ((read = file.Read(chunk)) > 0) hash.Append(chunk.AsSpan(0, read));
                    _header = h with { Checksum = System.Convert.ToHexStringLower(hash.GetCurrentHash()) };
                    var prefix = new byte[_dataOffset];
                    prefix.AsSpan().Fill((byte)' ');
                    Magic.CopyTo(prefix);
                    BinaryPrimitives.WriteUInt64LittleEndian(prefix.AsSpan(8), (ulong)(_dataOffset - 16));
                    HeaderBytes(_header).CopyTo(prefix.AsSpan(16));
                    file.Position = 0;
                    file.Write(prefix);
                    file.Flush(flushToDisk: true);
                }
                ReleaseMapping();
                TryDelete(_temp);
                File.Move(temp, _path, overwrite: true);
                _committed = true;
                return _header;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                TryDelete(temp);
                throw DiskSpace.IsFull(e as IOException ?? new IOException())
                    ? new MtkdException($"{_path}: the disk is full while compressing the cache ({e.Message}); nothing was written")
                    : new MtkdException($"{_path}: cannot write the cache ({e.Message}); nothing was written");
            }
            catch
            {
                TryDelete(temp);
                throw;
            }
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
