using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace BitTtt.Training;

// Binary format (tokens.bin), little-endian:
//   "BTOK"      4 bytes, magic
//   version     u32, = 1
//   count       u64, number of token ids
//   ids         count × i32
// The file is memory-mapped on read, so a corpus larger than RAM works; the writer streams to a
// temporary file and renames it on Commit, so a reader never sees a torn file.

/// <summary>A tokenized corpus on disk: memory-mapped int32 token ids.</summary>
public sealed class TokenFile : IDisposable
{
    internal const int HeaderSize = 16;
    internal static ReadOnlySpan<byte> Magic => "BTOK"u8;

    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly unsafe byte* _base;

    unsafe TokenFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, long count)
    {
        FilePath = path;
        _map = map;
        _view = view;
        Count = count;
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
    }

    public string FilePath { get; }

    public long Count { get; }

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
        if (version != 1) throw BitLlamaFormatException.In(path, $"token file version {version} is not supported (expected 1)");
        ulong count = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        if (count > (ulong)((length - HeaderSize) / 4) || HeaderSize + (long)count * 4 != length)
            throw BitLlamaFormatException.In(path, $"header says {count} tokens ({HeaderSize + (decimal)count * 4} bytes) but the file is {length} bytes (truncated or corrupt)");
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        return new TokenFile(path, map, view, (long)count);
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

/// <summary>Streams token ids into a <see cref="TokenFile"/>; the file appears (atomically) only on <see cref="Commit"/>.</summary>
public sealed class TokenFileWriter : IDisposable
{
    readonly string _path;
    readonly string _temp;
    FileStream? _stream;

    public TokenFileWriter(string path)
    {
        _path = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(_path)!;
        Directory.CreateDirectory(dir);
        AtomicFile.RemoveStaleTemporaries(_path);   // what a killed writer left
        _temp = AtomicFile.TemporaryName(_path, "tmp");
        _stream = new FileStream(_temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        _stream.Write(new byte[TokenFile.HeaderSize]);
    }

    public long Count { get; private set; }

    public void Append(ReadOnlySpan<int> ids)
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
        Span<byte> header = stackalloc byte[TokenFile.HeaderSize];
        TokenFile.Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], 1);
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
        if (_stream is null) return;
        _stream.Dispose();
        _stream = null;
        try { File.Delete(_temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
