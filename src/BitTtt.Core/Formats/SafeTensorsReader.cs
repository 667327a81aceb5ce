using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace BitTtt.Formats;

// Binary format (safetensors, docs/model.md §4.1); integers little-endian:
//   N        u64       header length in bytes; readers reject N > 100 MB or N past the end of the file
//   header   N bytes   UTF-8 JSON object, padded with spaces to a multiple of 8 by writers:
//                        { "__metadata__": { "key": "value", ... },              optional, string -> string
//                          "<name>": { "dtype": "F32" | "F16" | "BF16" | "U8" | "I8",
//                                      "shape": [d0, d1, ...],                    [] is a scalar
//                                      "data_offsets": [begin, end] }, ... }      relative to the buffer
//   buffer   to EOF    tensor data, row-major, little-endian. The tensors tile the buffer exactly, in any
//                      order: no gap, no overlap, nothing after the last one, and for each tensor
//                      end - begin = element size (F32 4, F16 2, BF16 2, U8 1, I8 1) × product(shape).

/// <summary>
/// Reads a safetensors file (docs/model.md §4.1) without loading it: the header is parsed and checked on
/// <see cref="Open(string)"/>, the data stays memory-mapped and each tensor is converted to float on
/// request, so reading a 1 GB model costs the managed heap only the tensors asked for.
/// Every rule violation throws <see cref="BitLlamaFormatException"/> naming the file and the tensor.
/// </summary>
public sealed unsafe class SafeTensorsReader : IDisposable
{
    /// <summary>Largest header accepted (the limit the reference implementation uses).</summary>
    public const long MaxHeaderLength = 100_000_000;

    // Elements converted per step, so no single span exceeds int.MaxValue bytes.
    const int ChunkElements = 1 << 26;

    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly Dictionary<string, SafeTensorInfo> _byName;
    byte* _base;

    SafeTensorsReader(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, List<SafeTensorInfo> tensors,
        Dictionary<string, string> metadata)
    {
        FilePath = path;
        _map = map;
        _view = view;
        Tensors = tensors.AsReadOnly();
        Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
    }

    public string FilePath { get; }

    /// <summary>The header's <c>__metadata__</c> (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>All tensors in header order.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    public static SafeTensorsReader Open(string path) => Open(path, 0);

    /// <summary>Opens a file with other limits than <see cref="BitLlamaLoadLimits.Default"/>.</summary>
    public static SafeTensorsReader Open(string path, BitLlamaLoadLimits limits) => Open(path, 0, limits);

    /// <summary>Opens a safetensors body that starts <paramref name="bodyOffset"/> bytes into the file
    /// and runs to its end (the body of a <c>.bitt</c> file).</summary>
    public static SafeTensorsReader Open(string path, long bodyOffset, BitLlamaLoadLimits? limits = null)
    {
        limits ??= BitLlamaLoadLimits.Default;
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfNegative(bodyOffset);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors data is little-endian; this reader needs a little-endian CPU");
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: safetensors file not found", path);
        if (new FileInfo(path).Length == 0)
            throw BitLlamaFormatException.In(path, "0 bytes, too short for the 8-byte header length (an empty file, or not a regular file: a device or pipe cannot be memory-mapped)");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.RandomAccess);
        try
        {
            var header = SafeTensorsHeader.Read(stream, path, bodyOffset, limits);
            var map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            try
            {
                var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
                return new SafeTensorsReader(path, map, view, header.Tensors, header.Metadata);
            }
            catch
            {
                map.Dispose();
                throw;
            }
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    public bool TryGet(string name, out SafeTensorInfo info) => _byName.TryGetValue(name, out info!);

    /// <summary>The tensor's entry; throws naming the tensor and the file when it is absent.</summary>
    public SafeTensorInfo Get(string name) =>
        _byName.TryGetValue(name, out var info)
            ? info
            : throw BitLlamaFormatException.In(FilePath, $"tensor '{name}' is missing (the file has {Tensors.Count} tensors)");

    /// <summary>The tensor's values as float (F16 and BF16 are widened exactly; U8 and I8 are packed codes, not floats).</summary>
    public float[] ReadFloat32(string name)
    {
        var info = Get(name);
        if (info.DType is SafeTensorDType.U8 or SafeTensorDType.I8)
            throw BitLlamaFormatException.In(FilePath, $"tensor '{name}' is {info.DType} (packed weights), not a float tensor");
        if (info.ElementCount > Array.MaxLength)
            throw BitLlamaFormatException.In(FilePath, $"tensor '{name}' has {info.ElementCount} elements, more than one array can hold");
        var result = new float[info.ElementCount];
        ReadFloat32(name, result);
        return result;
    }

    /// <summary>Reads the tensor after checking its shape: "tensor 'x': expected shape [a, b], found [c, d]".</summary>
    public float[] ReadFloat32(string name, params long[] expectedShape)
    {
        var info = Get(name);
        if (!info.Shape.AsSpan().SequenceEqual(expectedShape))
            throw BitLlamaFormatException.In(FilePath,
                $"tensor '{name}': expected shape {SafeTensorShapes.Format(expectedShape)}, found {SafeTensorShapes.Format(info.Shape)}");
        return ReadFloat32(name);
    }

    /// <summary>Converts the tensor into <paramref name="destination"/>, which must hold exactly its element count.</summary>
    public void ReadFloat32(string name, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        var info = Get(name);
        if (info.DType is SafeTensorDType.U8 or SafeTensorDType.I8)
            throw BitLlamaFormatException.In(FilePath, $"tensor '{name}' is {info.DType} (packed weights), not a float tensor");
        if (destination.Length != info.ElementCount)
            throw new ArgumentException(
                $"destination holds {destination.Length} floats, tensor '{name}' {SafeTensorShapes.Format(info.Shape)} has {info.ElementCount}",
                nameof(destination));
        byte* src = _base + info.Offset;
        int elementSize = SafeTensorShapes.ElementSize(info.DType);
        for (int done = 0; done < destination.Length; done += ChunkElements)
        {
            int n = Math.Min(ChunkElements, destination.Length - done);
            Convert(info.DType, src + (long)done * elementSize, destination.Slice(done, n));
        }
    }

    /// <summary>Copies the tensor's bytes as stored (any dtype) into <paramref name="destination"/>, which must hold exactly them.</summary>
    public void ReadBytes(string name, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_base == null, this);
        var info = Get(name);
        if (destination.Length != info.ByteLength)
            throw new ArgumentException($"destination holds {destination.Length} bytes, tensor '{name}' has {info.ByteLength}", nameof(destination));
        new ReadOnlySpan<byte>(_base + info.Offset, destination.Length).CopyTo(destination);
    }

    static void Convert(SafeTensorDType dtype, byte* src, Span<float> dst)
    {
        switch (dtype)
        {
            case SafeTensorDType.F32:
                new ReadOnlySpan<float>(src, dst.Length).CopyTo(dst);
                break;
            case SafeTensorDType.F16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(src, dst.Length), dst);
                break;
            case SafeTensorDType.BF16:
                Bf16ToSingle(new ReadOnlySpan<ushort>(src, dst.Length), dst);
                break;
            default:
                throw new InvalidOperationException($"unhandled dtype {dtype}");
        }
    }

    /// <summary>BF16 is the top half of an IEEE float32, so widening is a 16-bit shift (exact, NaN kept).</summary>
    internal static void Bf16ToSingle(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var dstBits = MemoryMarshal.Cast<float, uint>(dst);
            for (; i <= src.Length - Vector<ushort>.Count; i += Vector<ushort>.Count)
            {
                Vector.Widen(new Vector<ushort>(src.Slice(i)), out Vector<uint> lo, out Vector<uint> hi);
                Vector.ShiftLeft(lo, 16).CopyTo(dstBits.Slice(i));
                Vector.ShiftLeft(hi, 16).CopyTo(dstBits.Slice(i + Vector<uint>.Count));
            }
        }
        for (; i < src.Length; i++)
            dst[i] = BitConverter.Int32BitsToSingle(src[i] << 16);
    }

    public void Dispose()
    {
        if (_base == null) return;
        _base = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}

/// <summary>Parses and checks a safetensors header (every rule of docs/model.md §4.1 except reading the data).</summary>
internal sealed class SafeTensorsHeader
{
    public required List<SafeTensorInfo> Tensors { get; init; }
    public required Dictionary<string, string> Metadata { get; init; }

    readonly record struct Entry(string Name, long Begin, long End);

    public static SafeTensorsHeader Read(FileStream stream, string path, long bodyOffset, BitLlamaLoadLimits limits)
    {
        string where = bodyOffset == 0 ? "" : $"safetensors body at byte {bodyOffset}: ";
        BitLlamaFormatException Fail(string message) => BitLlamaFormatException.In(path, where + message);

        long fileLength = stream.Length;
        long bodyLength = fileLength - bodyOffset;
        if (bodyLength < 8)
            throw Fail($"{Math.Max(bodyLength, 0)} bytes, too short for the 8-byte header length (truncated file?)");
        Span<byte> lengthBytes = stackalloc byte[8];
        RandomAccess.Read(stream.SafeFileHandle, lengthBytes, bodyOffset);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (n > (ulong)(bodyLength - 8))
            throw Fail($"header length {n} exceeds the {bodyLength - 8} bytes left in the file (truncated download, or not a safetensors file?)");
        if (n > (ulong)limits.MaxSafeTensorsHeaderBytes)
            throw Fail($"header length {n} exceeds the {limits.MaxSafeTensorsHeaderBytes}-byte limit (BitLlamaLoadLimits.MaxSafeTensorsHeaderBytes)");
        CheckTensorCount(stream.SafeFileHandle, bodyOffset + 8, (long)n, limits, Fail);
        var headerBytes = new byte[n];
        if (RandomAccess.Read(stream.SafeFileHandle, headerBytes, bodyOffset + 8) != headerBytes.Length)
            throw Fail("file shrank while reading the header");
        long bufferStart = bodyOffset + 8 + (long)n;
        long bufferLength = fileLength - bufferStart;

        JsonDocument doc = StrictJson.Parse(headerBytes, path, "header", limits.MaxSafeTensorsHeaderBytes, limits, where: where);
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw Fail($"header must be a JSON object, found {doc.RootElement.ValueKind}");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<SafeTensorInfo>();
            var entries = new List<Entry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (tensors.Count >= limits.MaxTensors)
                    throw Fail($"the header lists more than {limits.MaxTensors} tensors (BitLlamaLoadLimits.MaxTensors)");
                if (!seen.Add(property.Name))
                    throw Fail($"'{property.Name}' appears twice in the header");
                if (property.Name == "__metadata__")
                {
                    ReadMetadata(property.Value, metadata, Fail);
                    continue;
                }
                var (info, begin, end) = ReadTensor(property.Name, property.Value, bufferStart, bufferLength, limits.MaxTensorRank, Fail);
                tensors.Add(info);
                entries.Add(new Entry(info.Name, begin, end));
            }
            CheckTiling(entries, bufferLength, Fail);
            return new SafeTensorsHeader { Tensors = tensors, Metadata = metadata };
        }
    }

    // Counts the header's top-level names by scanning it from the file in 1 MB pieces, before the header is read
    // into memory or parsed: a 100 MB header can list a million tiny tensors, and the parsed document of them cost
    // 585 MB before the count could be checked. A header that is not well-formed JSON is left to the strict parse,
    // which names the problem.
    static void CheckTensorCount(Microsoft.Win32.SafeHandles.SafeFileHandle file, long start, long length, BitLlamaLoadLimits limits,
        Func<string, BitLlamaFormatException> fail)
    {
        var buffer = new byte[(int)Math.Min(length, 1 << 20)];
        var state = new JsonReaderState(new JsonReaderOptions { MaxDepth = limits.MaxJsonDepth });
        long names = 0, position = 0;
        int kept = 0;   // bytes of a token the last piece cut, moved to the buffer's start
        try
        {
            while (true)
            {
                int read = RandomAccess.Read(file, buffer.AsSpan(kept, (int)Math.Min(buffer.Length - kept, length - position)), start + position);
                position += read;
                bool final = position == length || read == 0;
                var reader = new Utf8JsonReader(buffer.AsSpan(0, kept + read), final, state);
                while (reader.Read())
                    if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && ++names > limits.MaxTensors + 1L)   // + __metadata__
                        throw fail($"the header lists more than {limits.MaxTensors} tensors (BitLlamaLoadLimits.MaxTensors)");
                if (final) return;
                state = reader.CurrentState;
                int consumed = (int)reader.BytesConsumed;
                kept += read - consumed;
                buffer.AsSpan(consumed, kept).CopyTo(buffer);
                if (kept == buffer.Length) Array.Resize(ref buffer, (int)Math.Min(2L * buffer.Length, length));   // one token longer than the buffer
            }
        }
        catch (JsonException) { }
    }

    static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, Func<string, BitLlamaFormatException> fail)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw fail($"'__metadata__' must be an object of strings, found {value.ValueKind}");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw fail($"'__metadata__' value '{item.Name}' must be a string, found {item.Value.ValueKind}");
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    static (SafeTensorInfo Info, long Begin, long End) ReadTensor(string name, JsonElement value, long bufferStart, long bufferLength,
        int maxRank, Func<string, BitLlamaFormatException> fail)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw fail($"tensor '{name}': expected an object with dtype, shape and data_offsets, found {value.ValueKind}");
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw fail($"tensor '{name}': 'dtype' is missing or not a string");
        string dtypeText = dtypeElement.GetString()!;
        if (!SafeTensorShapes.TryParse(dtypeText, out var dtype))
            throw fail($"tensor '{name}': unknown dtype '{dtypeText}' (accepted: {SafeTensorShapes.AcceptedDTypes})");
        if (value.TryGetProperty("shape", out var shapeElement) && shapeElement.ValueKind == JsonValueKind.Array && shapeElement.GetArrayLength() > maxRank)
            throw fail($"tensor '{name}': shape has {shapeElement.GetArrayLength()} dimensions, more than {maxRank} (BitLlamaLoadLimits.MaxTensorRank)");
        long[] shape = ReadLongs(name, value, "shape", -1, fail);
        long[] offsets = ReadLongs(name, value, "data_offsets", 2, fail);
        long begin = offsets[0], end = offsets[1];
        if (begin > end)
            throw fail($"tensor '{name}': data_offsets [{begin}, {end}] end before they begin");
        if (end > bufferLength)
            throw fail($"tensor '{name}': data_offsets [{begin}, {end}] reach past the end of the data buffer, which holds {bufferLength} bytes (truncated file, or corrupt offsets)");
        long needed;
        try
        {
            needed = checked(SafeTensorShapes.ElementCount(shape) * SafeTensorShapes.ElementSize(dtype));
        }
        catch (OverflowException)
        {
            throw fail($"tensor '{name}': shape {SafeTensorShapes.Format(shape)} is too large");
        }
        if (end - begin != needed)
            throw fail($"tensor '{name}': data_offsets [{begin}, {end}] hold {end - begin} bytes, but {dtypeText} × shape {SafeTensorShapes.Format(shape)} needs {needed} bytes");
        return (new SafeTensorInfo(name, dtype, shape, bufferStart + begin, needed), begin, end);
    }

    static long[] ReadLongs(string name, JsonElement value, string field, int count, Func<string, BitLlamaFormatException> fail)
    {
        string expected = count < 0 ? "an array of non-negative integers" : $"an array of {count} non-negative integers";
        if (!value.TryGetProperty(field, out var array) || array.ValueKind != JsonValueKind.Array)
            throw fail($"tensor '{name}': '{field}' is missing or not an array (expected {expected})");
        if (count >= 0 && array.GetArrayLength() != count)
            throw fail($"tensor '{name}': '{field}' has {array.GetArrayLength()} entries, expected {count}");
        var result = new long[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long v) || v < 0)
                throw fail($"tensor '{name}': '{field}' must be {expected}, found {item.GetRawText()}");
            result[i++] = v;
        }
        return result;
    }

    /// <summary>The tensors must cover [0, bufferLength) exactly once, in whatever order the header lists them.</summary>
    static void CheckTiling(List<Entry> entries, long bufferLength, Func<string, BitLlamaFormatException> fail)
    {
        var sorted = entries.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        long expected = 0;
        Entry? previous = null;
        foreach (var e in sorted)
        {
            if (e.Begin < expected)
                throw fail($"tensors '{previous!.Value.Name}' [{previous.Value.Begin}, {previous.Value.End}] and '{e.Name}' [{e.Begin}, {e.End}] overlap");
            if (e.Begin > expected)
                throw fail(previous is null
                    ? $"gap of {e.Begin} bytes at the start of the data buffer before tensor '{e.Name}' [{e.Begin}, {e.End}]; tensors must tile the buffer"
                    : $"gap of {e.Begin - expected} bytes between tensor '{previous.Value.Name}' (ends at {expected}) and tensor '{e.Name}' (begins at {e.Begin}); tensors must tile the buffer");
            expected = e.End;
            previous = e;
        }
        if (expected != bufferLength)
            throw fail(previous is null
                ? $"the header lists no tensors but the data buffer holds {bufferLength} bytes"
                : $"{bufferLength - expected} bytes after the last tensor '{previous.Value.Name}' (ends at {expected}, buffer holds {bufferLength}); tensors must tile the buffer");
    }
}
