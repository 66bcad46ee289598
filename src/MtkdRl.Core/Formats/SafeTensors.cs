using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace MtkdRl.Core.Formats;

/// <summary>Element types a safetensors file may hold that MtkdRl reads or writes.</summary>
public enum SafeTensorDType { F32, F16, I32, I64, U8, F64 }

/// <summary>One tensor's entry in a safetensors header: type, shape and byte range within the data section.</summary>
public sealed record SafeTensorInfo(string Name, SafeTensorDType DType, int[] Shape, long Begin, long End)
{
    public long Elements => Shape.Aggregate(1L, (a, d) => a * d);
    public string ShapeText => $"[{string.Join(',', Shape)}]";
}

/// <summary>
/// The safetensors format (an 8-byte little-endian header length, a JSON header mapping names to dtype,
/// shape and data offsets, then the raw little-endian data), read and written without trusting anything in the
/// file: the header length is bounded and checked against the file size before it is read, every tensor's
/// byte range must lie inside the data section, match its shape and dtype, and not overlap another, and the
/// ranges must cover the data section with no gaps. Writing goes through <see cref="AtomicFile"/>.
/// </summary>
public static class SafeTensors
{
    /// <summary>Headers longer than this are refused before reading them (a hostile length cannot make us allocate).</summary>
    public const long MaxHeaderBytes = 100L << 20;

    public static int ElementSize(SafeTensorDType t) => t switch
    {
        SafeTensorDType.F32 or SafeTensorDType.I32 => 4,
        SafeTensorDType.F16 => 2,
        SafeTensorDType.I64 or SafeTensorDType.F64 => 8,
        SafeTensorDType.U8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>Tensors to write, in order, with string metadata (the "__metadata__" entry).</summary>
    public sealed class Builder
    {
        private readonly List<(string Name, SafeTensorDType DType, int[] Shape, byte[] Bytes)> _tensors = [];
        public Dictionary<string, string> Metadata { get; } = new(StringComparer.Ordinal);

        public Builder Add(string name, ReadOnlySpan<float> data, params int[] shape) =>
            AddRaw(name, SafeTensorDType.F32, shape, MemoryMarshal.AsBytes(data), data.Length);

        public Builder Add(string name, ReadOnlySpan<Half> data, params int[] shape) =>
            AddRaw(name, SafeTensorDType.F16, shape, MemoryMarshal.AsBytes(data), data.Length);

        public Builder Add(string name, ReadOnlySpan<int> data, params int[] shape) =>
            AddRaw(name, SafeTensorDType.I32, shape, MemoryMarshal.AsBytes(data), data.Length);

        public Builder Add(string name, ReadOnlySpan<long> data, params int[] shape) =>
            AddRaw(name, SafeTensorDType.I64, shape, MemoryMarshal.AsBytes(data), data.Length);

        public Builder Add(string name, ReadOnlySpan<double> data, params int[] shape) =>
            AddRaw(name, SafeTensorDType.F64, shape, MemoryMarshal.AsBytes(data), data.Length);

        private Builder AddRaw(string name, SafeTensorDType dtype, int[] shape, ReadOnlySpan<byte> bytes, int elements)
        {
            if (string.IsNullOrEmpty(name) || name == "__metadata__") throw new ArgumentException($"invalid tensor name '{name}'");
            if (_tensors.Any(t => t.Name == name)) throw new ArgumentException($"tensor '{name}' added twice");
            long expected = shape.Aggregate(1L, (a, d) => a * d);
            if (shape.Any(d => d < 0) || expected != elements)
                throw new ArgumentException($"tensor '{name}': shape [{string.Join(',', shape)}] does not hold {elements} elements");
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is little-endian");
            _tensors.Add((name, dtype, (int[])shape.Clone(), bytes.ToArray()));
            return this;
        }

        /// <summary>Writes the file atomically, its exact size allocated on disk first, streamed without a copy in memory.</summary>
        public void Write(string path)
        {
            byte[] header = Header();
            AtomicFile.Write(path, 8 + header.Length + _tensors.Sum(t => (long)t.Bytes.Length), stream => WriteTo(stream, header));
        }

        public void WriteTo(Stream stream) => WriteTo(stream, Header());

        private void WriteTo(Stream stream, byte[] header)
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (var t in _tensors) stream.Write(t.Bytes);
        }

        /// <summary>The JSON header, padded with spaces to a multiple of 8 so the data section is aligned for readers that map it.</summary>
        private byte[] Header()
        {
            var header = new MemoryStream();
            using (var w = new Utf8JsonWriter(header))
            {
                w.WriteStartObject();
                if (Metadata.Count > 0)
                {
                    w.WriteStartObject("__metadata__");
                    foreach (var (k, v) in Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                    w.WriteEndObject();
                }
                long offset = 0;
                foreach (var t in _tensors)
                {
                    w.WriteStartObject(t.Name);
                    w.WriteString("dtype", t.DType.ToString());
                    w.WriteStartArray("shape");
                    foreach (var d in t.Shape) w.WriteNumberValue(d);
                    w.WriteEndArray();
                    w.WriteStartArray("data_offsets");
                    w.WriteNumberValue(offset);
                    w.WriteNumberValue(offset + t.Bytes.Length);
                    w.WriteEndArray();
                    w.WriteEndObject();
                    offset += t.Bytes.Length;
                }
                w.WriteEndObject();
            }
            while (header.Length % 8 != 0) header.WriteByte((byte)' ');
            return header.ToArray();
        }
    }

    /// <summary>A safetensors file read into memory and validated.</summary>
    public sealed class File
    {
        public string Path { get; }
        public IReadOnlyDictionary<string, string> Metadata { get; }
        public IReadOnlyList<SafeTensorInfo> Tensors { get; }
        private readonly byte[] _data;

        private File(string path, IReadOnlyDictionary<string, string> metadata, IReadOnlyList<SafeTensorInfo> tensors, byte[] data)
        {
            Path = path; Metadata = metadata; Tensors = tensors; _data = data;
        }

        public bool Contains(string name) => Tensors.Any(t => t.Name == name);

        public SafeTensorInfo Info(string name) =>
            Tensors.FirstOrDefault(t => t.Name == name) ?? throw new MtkdInputException($"{Path}: no tensor '{name}'");

        /// <summary>A float32 tensor; its shape must equal <paramref name="expectedShape"/> when one is given.</summary>
        public float[] ReadSingle(string name, int[]? expectedShape = null) => Read<float>(name, SafeTensorDType.F32, expectedShape);

        public Half[] ReadHalf(string name, int[]? expectedShape = null) => Read<Half>(name, SafeTensorDType.F16, expectedShape);

        public int[] ReadInt32(string name, int[]? expectedShape = null) => Read<int>(name, SafeTensorDType.I32, expectedShape);

        public long[] ReadInt64(string name, int[]? expectedShape = null) => Read<long>(name, SafeTensorDType.I64, expectedShape);

        public double[] ReadDouble(string name, int[]? expectedShape = null) => Read<double>(name, SafeTensorDType.F64, expectedShape);

        private T[] Read<T>(string name, SafeTensorDType dtype, int[]? expectedShape) where T : unmanaged
        {
            var info = Info(name);
            if (info.DType != dtype)
                throw new MtkdInputException($"{Path}: tensor '{name}' is {info.DType}, expected {dtype}");
            if (expectedShape is not null && !expectedShape.SequenceEqual(info.Shape))
                throw new MtkdInputException($"{Path}: tensor '{name}' has shape {info.ShapeText}, expected [{string.Join(',', expectedShape)}]");
            var result = new T[info.Elements];
            _data.AsSpan((int)info.Begin, (int)(info.End - info.Begin)).CopyTo(MemoryMarshal.AsBytes(result.AsSpan()));
            return result;
        }

        public static File Read(string path)
        {
            FileStream stream;
            try { stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new MtkdInputException($"{path}: cannot open ({e.Message})");
            }
            using (stream) return Parse(path, stream);
        }

        private static File Parse(string path, FileStream stream)
        {
            long fileLength = stream.Length;
            if (fileLength < 8) throw new MtkdInputException($"{path}: not a safetensors file (only {fileLength} bytes)");
            Span<byte> lengthBytes = stackalloc byte[8];
            stream.ReadExactly(lengthBytes);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
            if (headerLength > (ulong)MaxHeaderBytes)
                throw new MtkdInputException($"{path}: header length {headerLength} is over the {MaxHeaderBytes}-byte limit (not a safetensors file, or corrupt)");
            if ((long)headerLength > fileLength - 8)
                throw new MtkdInputException($"{path}: truncated: header length {headerLength} passes the end of the {fileLength}-byte file");
            var headerBytes = new byte[headerLength];
            stream.ReadExactly(headerBytes);
            long dataLength = fileLength - 8 - (long)headerLength;
            if (dataLength > Array.MaxLength)
                throw new MtkdInputException($"{path}: data section of {dataLength} bytes is too large to load");

            var (metadata, tensors) = ParseHeader(path, headerBytes, dataLength);
            var data = new byte[dataLength];
            stream.ReadExactly(data);
            return new File(path, metadata, tensors, data);
        }

        private static (Dictionary<string, string>, List<SafeTensorInfo>) ParseHeader(string path, byte[] header, long dataLength)
        {
            JsonDocument doc;
            try { doc = JsonDocument.Parse(header); }
            catch (JsonException e) { throw new MtkdInputException($"{path}: header is not valid JSON ({JsonErrorText.Describe(e)})"); }
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                    throw new MtkdInputException($"{path}: header is not a JSON object");
                var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
                var tensors = new List<SafeTensorInfo>();
                foreach (var prop in doc.RootElement.EnumerateObject())
                {
                    if (prop.Name == "__metadata__")
                    {
                        if (prop.Value.ValueKind != JsonValueKind.Object) throw new MtkdInputException($"{path}: __metadata__ is not an object");
                        foreach (var m in prop.Value.EnumerateObject())
                        {
                            if (m.Value.ValueKind != JsonValueKind.String)
                                throw new MtkdInputException($"{path}: metadata '{m.Name}' is not a string");
                            metadata[m.Name] = m.Value.GetString()!;
                        }
                        continue;
                    }
                    tensors.Add(ParseTensor(path, prop, dataLength));
                }
                CheckLayout(path, tensors, dataLength);
                return (metadata, tensors);
            }
        }

        private static SafeTensorInfo ParseTensor(string path, JsonProperty prop, long dataLength)
        {
            string name = prop.Name;
            var v = prop.Value;
            if (v.ValueKind != JsonValueKind.Object
                || !v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String
                || !v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array
                || !v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
                throw new MtkdInputException($"{path}: tensor '{name}' needs dtype, shape and data_offsets [begin, end]");
            if (!Enum.TryParse<SafeTensorDType>(dt.GetString(), ignoreCase: false, out var dtype) || !Enum.IsDefined(dtype))
                throw new MtkdInputException($"{path}: tensor '{name}' has unsupported dtype '{dt.GetString()}'");
            var shape = new List<int>();
            long elements = 1;
            foreach (var d in sh.EnumerateArray())
            {
                if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int n) || n < 0)
                    throw new MtkdInputException($"{path}: tensor '{name}' has an invalid dimension {d}");
                shape.Add(n);
                // Once the count passes the data size it cannot fit; stop multiplying so it cannot overflow.
                if (elements <= dataLength) elements *= n;
            }
            if (shape.Contains(0)) elements = 0;
            if (elements > dataLength)
                throw new MtkdInputException($"{path}: tensor '{name}' {dtype} [{string.Join(',', shape)}] is larger than the {dataLength}-byte data section");
            if (!off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
                throw new MtkdInputException($"{path}: tensor '{name}' has invalid data_offsets");
            if (end > dataLength)
                throw new MtkdInputException($"{path}: tensor '{name}' ends at byte {end}, past the {dataLength}-byte data section");
            long expectedBytes = elements * ElementSize(dtype);
            if (end - begin != expectedBytes)
                throw new MtkdInputException($"{path}: tensor '{name}' {dtype} [{string.Join(',', shape)}] needs {expectedBytes} bytes but its offsets span {end - begin}");
            return new SafeTensorInfo(name, dtype, shape.ToArray(), begin, end);
        }

        private static void CheckLayout(string path, List<SafeTensorInfo> tensors, long dataLength)
        {
            long expected = 0;
            foreach (var t in tensors.OrderBy(t => t.Begin).ThenBy(t => t.End))
            {
                if (t.Begin != expected)
                    throw new MtkdInputException(t.Begin < expected
                        ? $"{path}: tensor '{t.Name}' overlaps the tensor before it"
                        : $"{path}: gap of {t.Begin - expected} bytes before tensor '{t.Name}'");
                expected = t.End;
            }
            if (expected != dataLength)
                throw new MtkdInputException($"{path}: {dataLength - expected} bytes after the last tensor are not described by the header");
        }
    }
}
