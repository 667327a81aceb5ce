using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace BitTtt.Training;

// Binary format (tokens.bin), little-endian:
//   "BTOK"      4 bytes, magic
//   version     u32, 1 (ids only: a text) or 2 (ids and flags: examples, e.g. conversations)
//   count       u64, number of token ids
//   ids         count × i32
//   flags       count × u8, version 2 only: bit 0 (Target) = the loss counts the prediction of this token,
//               bit 1 (ExampleStart) = the first token of an example; the other bits are 0
// The file is memory-mapped on read, so a corpus larger than RAM works; the writer streams to a
// temporary file and renames it on Commit, so a reader never sees a torn file.

/// <summary>
/// A tokenized corpus on disk: memory-mapped int32 token ids; for a corpus of examples (conversations, docs/model.md
/// §6.3) also one flag byte per token saying where each example starts and which predictions its loss counts.
/// </summary>
public sealed class TokenFile : IDisposable
{
    internal const int HeaderSize = 16;
    internal static ReadOnlySpan<byte> Magic => "BTOK"u8;

    /// <summary>Flag bit: the loss counts the prediction of this token.</summary>
    public const byte Target = 1;
    /// <summary>Flag bit: this token starts an example.</summary>
    public const byte ExampleStart = 2;

    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly unsafe byte* _base;
    long[]? _exampleStarts;

    unsafe TokenFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, long count, bool hasFlags)
    {
        FilePath = path;
        _map = map;
        _view = view;
        Count = count;
        HasFlags = hasFlags;
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
    }

    public string FilePath { get; }

    public long Count { get; }

    /// <summary>True for a corpus of examples (version 2): each token has flags (<see cref="Target"/>, <see cref="ExampleStart"/>).</summary>
    public bool HasFlags { get; }

    public static TokenFile Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: token file not found", path);
        long length = new FileInfo(path).Length;
        Span<byte> header = stackalloc byte[HeaderSize];
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            if (length < HeaderSize || stream.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false) < HeaderSize)
                throw BitLlamaFormatException.In(path, $"file is {length} bytes, shorter than the {HeaderSize}-byte token file header");
        }
        if (!header[..4].SequenceEqual(Magic))
            throw BitLlamaFormatException.In(path, "not a token file (magic is not \"BTOK\"); create it with TokenFileWriter or `bit-llama train --data`");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (version is not (1 or 2)) throw BitLlamaFormatException.In(path, $"token file version {version} is not supported (expected 1 or 2)");
        int bytesPerToken = version == 2 ? 5 : 4;
        ulong count = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        if (count > (ulong)((length - HeaderSize) / bytesPerToken) || HeaderSize + (long)count * bytesPerToken != length)
            throw BitLlamaFormatException.In(path, $"header says {count} tokens ({HeaderSize + (decimal)count * bytesPerToken} bytes) but the file is {length} bytes (truncated or corrupt)");
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        return new TokenFile(path, map, view, (long)count, version == 2);
    }

    public unsafe int this[long index]
    {
        get
        {
            if ((ulong)index >= (ulong)Count) throw new ArgumentOutOfRangeException(nameof(index), $"token index {index} is outside [0, {Count}) in {FilePath}");
            return BinaryPrimitives.ReadInt32LittleEndian(new ReadOnlySpan<byte>(_base + HeaderSize + index * 4, 4));
        }
    }

    /// <summary>Copies ids [start, start + destination.Length).</summary>
    public unsafe void CopyTo(long start, Span<int> destination)
    {
        if (start < 0 || start + destination.Length > Count)
            throw new ArgumentOutOfRangeException(nameof(start), $"range [{start}, {start + destination.Length}) is outside [0, {Count}) in {FilePath}");
        var source = new ReadOnlySpan<byte>(_base + HeaderSize + start * 4, destination.Length * 4);
        if (BitConverter.IsLittleEndian) MemoryMarshal.Cast<byte, int>(source).CopyTo(destination);
        else
            for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadInt32LittleEndian(source[(i * 4)..]);
    }

    /// <summary>Copies the flags of tokens [start, start + destination.Length) (a version-2 file only).</summary>
    public unsafe void CopyFlags(long start, Span<byte> destination)
    {
        if (!HasFlags) throw new InvalidOperationException($"{FilePath} holds a text (token file version 1): its tokens have no flags");
        if (start < 0 || start + destination.Length > Count)
            throw new ArgumentOutOfRangeException(nameof(start), $"range [{start}, {start + destination.Length}) is outside [0, {Count}) in {FilePath}");
        new ReadOnlySpan<byte>(_base + HeaderSize + Count * 4 + start, destination.Length).CopyTo(destination);
    }

    /// <summary>
    /// Where each example starts (the tokens flagged <see cref="ExampleStart"/>), in order; scanned once. Empty for a
    /// text (version 1). An example runs to the next one's start, the last to the end of the file.
    /// </summary>
    public IReadOnlyList<long> ExampleStarts => _exampleStarts ??= ScanExampleStarts();

    long[] ScanExampleStarts()
    {
        if (!HasFlags) return [];
        var starts = new List<long>();
        var buffer = new byte[1 << 16];
        for (long start = 0; start < Count; start += buffer.Length)
        {
            var span = buffer.AsSpan(0, (int)Math.Min(buffer.Length, Count - start));
            CopyFlags(start, span);
            for (int i = 0; i < span.Length; i++)
                if ((span[i] & ExampleStart) != 0) starts.Add(start + i);
        }
        if (Count > 0 && (starts.Count == 0 || starts[0] != 0))
            throw BitLlamaFormatException.In(FilePath, "token file version 2: the first token does not start an example (flags corrupt)");
        return [.. starts];
    }

    /// <summary>The first <paramref name="maxCount"/> ids (all by default) as an array, e.g. for counting n-grams.</summary>
    public int[] ReadAll(long maxCount = int.MaxValue)
    {
        var ids = new int[(int)Math.Min(Count, Math.Min(maxCount, Array.MaxLength))];
        CopyTo(0, ids);
        return ids;
    }

    /// <summary>The largest and smallest id, scanned in blocks (memory-mapped, so any size works).</summary>
    public (int Min, int Max) Range()
    {
        int min = int.MaxValue, max = int.MinValue;
        var buffer = new int[1 << 16];
        for (long start = 0; start < Count; start += buffer.Length)
        {
            var span = buffer.AsSpan(0, (int)Math.Min(buffer.Length, Count - start));
            CopyTo(start, span);
            foreach (int id in span) { if (id < min) min = id; if (id > max) max = id; }
        }
        return (min, max);
    }

    public void Dispose()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}

/// <summary>
/// Streams token ids into a <see cref="TokenFile"/>; the file appears (atomically) only on <see cref="Commit"/>.
/// A writer of examples (<c>withFlags</c>) takes whole examples with <see cref="AppendExample"/> and writes version 2.
/// </summary>
public sealed class TokenFileWriter : IDisposable
{
    readonly string _path;
    readonly string _temp;
    readonly string? _flagsTemp;
    FileStream? _stream;
    FileStream? _flags;

    public TokenFileWriter(string path, bool withFlags = false)
    {
        _path = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(_path)!;
        Directory.CreateDirectory(dir);
        AtomicFile.RemoveStaleTemporaries(_path);   // what a killed writer left
        _temp = AtomicFile.TemporaryName(_path, "tmp");
        _stream = new FileStream(_temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        _stream.Write(new byte[TokenFile.HeaderSize]);
        if (!withFlags) return;
        // The flags follow all the ids, so they wait in a second temporary file until Commit.
        _flagsTemp = AtomicFile.TemporaryName(_path, "tmp");
        _flags = new FileStream(_flagsTemp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
    }

    public long Count { get; private set; }

    /// <summary>Examples appended so far (a writer with flags).</summary>
    public long Examples { get; private set; }

    /// <summary>
    /// Appends one example (a writer with flags): its ids and, per id, whether the loss counts its prediction. The
    /// first id is flagged as the example's start.
    /// </summary>
    public void AppendExample(ReadOnlySpan<int> ids, ReadOnlySpan<bool> targets)
    {
        var flags = _flags ?? throw new InvalidOperationException("AppendExample needs a writer made with withFlags: true");
        if (ids.Length != targets.Length) throw new ArgumentException($"{ids.Length} ids but {targets.Length} target flags", nameof(targets));
        if (ids.IsEmpty) throw new ArgumentException("an example needs at least one token", nameof(ids));
        WriteIds(ids);
        var bytes = new byte[ids.Length];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)((targets[i] ? TokenFile.Target : 0) | (i == 0 ? TokenFile.ExampleStart : 0));
        flags.Write(bytes);
        Examples++;
    }

    public void Append(ReadOnlySpan<int> ids)
    {
        if (_flags is not null) throw new InvalidOperationException("a writer with flags takes whole examples (AppendExample)");
        WriteIds(ids);
    }

    void WriteIds(ReadOnlySpan<int> ids)
    {
        var stream = _stream ?? throw new InvalidOperationException("the token file was already committed or disposed");
        Span<byte> buffer = stackalloc byte[4096];
        while (!ids.IsEmpty)
        {
            int n = Math.Min(ids.Length, buffer.Length / 4);
            for (int i = 0; i < n; i++) BinaryPrimitives.WriteInt32LittleEndian(buffer[(i * 4)..], ids[i]);
            stream.Write(buffer[..(n * 4)]);
            ids = ids[n..];
            Count += n;
        }
    }

    /// <summary>Writes the header, flushes to disk and renames the temporary file over the target.</summary>
    public void Commit()
    {
        var stream = _stream ?? throw new InvalidOperationException("the token file was already committed or disposed");
        if (_flags is { } flags)
        {
            flags.Position = 0;
            flags.CopyTo(stream);
            flags.Dispose();
            _flags = null;
            File.Delete(_flagsTemp!);
        }
        Span<byte> header = stackalloc byte[TokenFile.HeaderSize];
        TokenFile.Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], _flagsTemp is null ? 1u : 2u);
        BinaryPrimitives.WriteUInt64LittleEndian(header[8..], (ulong)Count);
        stream.Position = 0;
        stream.Write(header);
        stream.Flush(flushToDisk: true);
        stream.Dispose();
        _stream = null;
        File.Move(_temp, _path, overwrite: true);
    }

    /// <summary>Without <see cref="Commit"/>, deletes the temporary file and leaves any existing target untouched.</summary>
    public void Dispose()
    {
        if (_flags is not null)
        {
            _flags.Dispose();
            _flags = null;
            try { File.Delete(_flagsTemp!); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        if (_stream is null) return;
        _stream.Dispose();
        _stream = null;
        try { File.Delete(_temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
