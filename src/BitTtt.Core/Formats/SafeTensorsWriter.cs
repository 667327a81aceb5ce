using System.Buffers;
using System.Buffers.Binary;
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
/// Writes safetensors files (docs/model.md §4.1): F32 tensors from floats, or tensors of any dtype from their bytes
/// (the packed .bitt), in the order given, contiguous, header padded to 8 bytes. Data is streamed tensor by
/// tensor; nothing is concatenated in memory.
/// </summary>
public static class SafeTensorsWriter
{
    // Floats written per Stream.Write, so a byte span never exceeds int.MaxValue.
    const int ChunkElements = 1 << 26;

    /// <summary>Writes the whole file to <paramref name="stream"/>. Every tensor is checked before the
    /// first byte is written; a bad name, shape or data length throws <see cref="ArgumentException"/>.</summary>
    public static void Write(Stream stream, IReadOnlyList<SafeTensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors data is little-endian; this writer needs a little-endian CPU");
        byte[] header = BuildHeader(tensors, metadata);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var t in tensors)
        {
            var data = t.Data.Span;
            for (int done = 0; done < data.Length; done += ChunkElements)
                stream.Write(MemoryMarshal.AsBytes(data.Slice(done, Math.Min(ChunkElements, data.Length - done))));
        }
    }

    /// <summary>Writes tensors given as bytes of their dtype; every tensor is checked before the first byte is written.</summary>
    public static void WriteBytes(Stream stream, IReadOnlyList<SafeTensorBytes> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(tensors);
        byte[] header = BuildHeader(tensors.Select(t => (t.Name, t.DType, t.Shape, (long)t.Data.Length)).ToList(), metadata);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var t in tensors) stream.Write(t.Data.Span);
    }

    /// <summary>Writes <paramref name="path"/> atomically: a failure leaves any previous file untouched.</summary>
    public static void WriteFile(string path, IReadOnlyList<SafeTensorData> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        AtomicFile.Write(path, stream => Write(stream, tensors, metadata));
    }

    /// <summary>The header JSON, space-padded to a multiple of 8 bytes so the data starts aligned.</summary>
    internal static byte[] BuildHeader(IReadOnlyList<SafeTensorData> tensors, IReadOnlyDictionary<string, string>? metadata) =>
        BuildHeader(tensors.Select(t => (t.Name, SafeTensorDType.F32, t.Shape, 4L * t.Data.Length)).ToList(), metadata);

    static byte[] BuildHeader(IReadOnlyList<(string Name, SafeTensorDType DType, long[] Shape, long Bytes)> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata)
                {
                    ArgumentNullException.ThrowIfNull(value, $"metadata['{key}']");
                    json.WriteString(key, value);
                }
                json.WriteEndObject();
            }
            var names = new HashSet<string>(StringComparer.Ordinal);
            long offset = 0;
            foreach (var t in tensors)
            {
                long bytes = CheckTensor(t.Name, t.DType, t.Shape, t.Bytes, names) * SafeTensorShapes.ElementSize(t.DType);
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType.ToString());
                json.WriteStartArray("shape");
                foreach (long d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) & ~7;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    static long CheckTensor(string name, SafeTensorDType dtype, long[] shape, long bytes, HashSet<string> names)
    {
        var t = (Name: name, Shape: shape);
        if (string.IsNullOrEmpty(t.Name))
            throw new ArgumentException("a tensor has an empty name", "tensors");
        if (t.Name == "__metadata__")
            throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor", "tensors");
        if (!names.Add(t.Name))
            throw new ArgumentException($"tensor '{t.Name}' appears twice", "tensors");
        if (t.Shape is null)
            throw new ArgumentException($"tensor '{t.Name}' has no shape", "tensors");
        foreach (long d in t.Shape)
            if (d < 0) throw new ArgumentException($"tensor '{t.Name}': shape {SafeTensorShapes.Format(t.Shape)} has a negative dimension", "tensors");
        long count;
        try
        {
            count = SafeTensorShapes.ElementCount(t.Shape);
        }
        catch (OverflowException)
        {
            throw new ArgumentException($"tensor '{t.Name}': shape {SafeTensorShapes.Format(t.Shape)} is too large", "tensors");
        }
        int size = SafeTensorShapes.ElementSize(dtype);
        if (bytes != count * size)
            throw new ArgumentException(dtype == SafeTensorDType.F32 && bytes % 4 == 0
                ? $"tensor '{t.Name}': data has {bytes / 4} values, but shape {SafeTensorShapes.Format(t.Shape)} needs {count}"
                : $"tensor '{t.Name}': data has {bytes} bytes, but {dtype} × shape {SafeTensorShapes.Format(t.Shape)} needs {count * size}", "tensors");
        return count;
    }
}
