using System.IO.Compression;
using MtkdRl.Core;

namespace MtkdRl.Data.Formats;

/// <summary>
/// A byte source being parsed (a raw file, a gzip file recognised by its 1f 8b magic, or a zip member) that knows
/// how many bytes it can still deliver: exactly for a raw file, a declared figure for a zip member, an upper bound
/// (deflate's maximum ratio) for anything compressed. Parsers compare what a header promises with those figures
/// before they allocate, so a hostile header cannot make them reserve terabytes.
/// </summary>
internal sealed class PayloadReader : IDisposable
{
    /// <summary>Deflate spends at least one bit per 258-byte match plus block overhead, so no stream expands more than 1032:1.</summary>
    public const long MaxDeflateRatio = 1032;

    private const int TrailingProbeBytes = 1 << 16;

    private readonly Stream _stream;
    private readonly IDisposable[] _owned;
    private readonly long? _declaredLength;
    private readonly bool _declaredIsTrusted;
    private readonly long _maxLength;
    private readonly string _container;
    private readonly uint? _expectedCrc;
    private uint _crc;
    private long _consumed;

    private PayloadReader(string path, Stream stream, IDisposable[] owned, long? declaredLength, bool declaredIsTrusted, long maxLength,
        string container, uint? expectedCrc = null)
    {
        _expectedCrc = expectedCrc;
        Path = path;
        _stream = stream;
        _owned = owned;
        _declaredLength = declaredLength;
        _declaredIsTrusted = declaredIsTrusted;
        _maxLength = maxLength;
        _container = container;
    }

    /// <summary>The file (or file:member) being read, for messages.</summary>
    public string Path { get; }

    /// <summary>The most bytes that can still follow.</summary>
    public long MaxRemaining => _maxLength - _consumed;

    /// <summary>How many bytes remain according to the container (file length, zip directory); null for gzip.</summary>
    public long? DeclaredRemaining => _declaredLength - _consumed;

    public static PayloadReader Open(string path)
    {
        FileStream file = OpenFile(path);
        try
        {
            Span<byte> magic = stackalloc byte[2];
            int got = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
            file.Position = 0;
            long length = file.Length;
            if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
            {
                var gzip = new GZipStream(file, CompressionMode.Decompress, leaveOpen: true);
                return new PayloadReader(path, gzip, [gzip, file], null, false, length * MaxDeflateRatio, $"{length}-byte gzip file");
            }
            return new PayloadReader(path, file, [file], length, true, length, $"{length}-byte file");
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>A zip member: its declared size is checked against headers, the real end is found by reading, and the CRC-32 is checked at the end.</summary>
    public static PayloadReader ForZipMember(string source, Stream member, long declaredLength, long compressedLength, uint crc) =>
        new(source, member, [member], declaredLength, false,
            Math.Min(declaredLength, compressedLength * MaxDeflateRatio + 64), $"member of {compressedLength} compressed bytes", crc);

    public static FileStream OpenFile(string path)
    {
        if (Directory.Exists(path)) throw new MtkdInputException($"{path}: is a directory, expected a file");
        if (!File.Exists(path)) throw new MtkdInputException($"{path}: file not found");
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MtkdInputException($"{path}: cannot open ({e.Message})");
        }
    }

    /// <summary>
    /// Checks, before anything is allocated, that <paramref name="bytes"/> more bytes can follow and, where the
    /// container states its length, that nothing else does. <paramref name="promise"/> words what the header
    /// claims, e.g. "10000 images of 28x28".
    /// </summary>
    public void ExpectPayload(long bytes, string promise)
    {
        if (bytes > Array.MaxLength)
            throw new MtkdInputException($"{Path}: header says {promise} ({bytes} bytes), more than one array can hold");
        if (DeclaredRemaining is long declared)
        {
            if (declared < bytes)
                throw new MtkdInputException($"{Path}: truncated: header says {promise} ({bytes} bytes), {(_declaredIsTrusted ? "file holds" : "zip directory says")} {declared}");
            if (declared > bytes)
                throw new MtkdInputException($"{Path}: {declared - bytes} unexpected bytes after the {promise} the header announces");
        }
        if (bytes > MaxRemaining)
            throw new MtkdInputException($"{Path}: header says {promise} ({bytes} bytes), more than a {_container} can hold");
    }

    /// <summary>Reads until <paramref name="destination"/> is full or the data ends; returns the bytes read.</summary>
    public int ReadUpTo(Span<byte> destination)
    {
        int total = 0;
        try
        {
            while (total < destination.Length)
            {
                int n = _stream.Read(destination[total..]);
                if (n == 0) break;
                total += n;
            }
        }
        catch (InvalidDataException)
        {
            // The runtime's own wording here speaks of archive entries even for gzip, so it is left out.
            throw new MtkdInputException($"{Path}: corrupt compressed data after {_consumed + total} bytes");
        }
        catch (IOException e)
        {
            throw new MtkdInputException($"{Path}: read failed after {_consumed + total} bytes ({OneLine(e.Message)})");
        }
        _consumed += total;
        if (_expectedCrc is not null) _crc = Crc32.Append(_crc, destination[..total]);
        return total;
    }

    /// <summary>Fills <paramref name="destination"/>; if the data ends first, throws with the message built from the bytes actually held.</summary>
    public void ReadExactly(Span<byte> destination, Func<long, string> truncated)
    {
        long start = _consumed;
        if (ReadUpTo(destination) < destination.Length)
            throw new MtkdInputException($"{Path}: truncated: {truncated(_consumed - start)}");
    }

    /// <summary>Throws when anything follows the payload: a file with extra bytes is not the file its header describes.</summary>
    public void ExpectEnd(string what)
    {
        long extra;
        bool atLeast = false;
        if (_declaredIsTrusted)
        {
            extra = _declaredLength!.Value - _consumed;
        }
        else
        {
            Span<byte> probe = new byte[TrailingProbeBytes];
            extra = ReadUpTo(probe);
            atLeast = extra == TrailingProbeBytes;
        }
        if (extra > 0)
            throw new MtkdInputException($"{Path}: {(atLeast ? "at least " : "")}{extra} unexpected bytes after the {what}");
        if (_expectedCrc is uint expected && _crc != expected)
            throw new MtkdInputException($"{Path}: CRC-32 is {_crc:x8}, the zip directory says {expected:x8}: the data is corrupt");
    }

    public void Dispose()
    {
        foreach (var owned in _owned) owned.Dispose();
    }

    internal static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
