using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;

namespace BitTtt.Formats;

// Binary format (.bitt, docs/model.md §4.3); integers little-endian:
//   magic        4 bytes            "BITT" (42 49 54 54)
//   header_len   u64                bytes of header; readers reject it past the end of the file or over 100 MB
//   header       header_len bytes   UTF-8 JSON object {"config": {...}, "tokenizer": {...}}:
//                                   "config" is config.json (docs/model.md §1), required;
//                                   "tokenizer" is a Hugging Face tokenizer.json object
//   body         to EOF             a complete safetensors file (docs/model.md §4.1) starting at byte 12 + header_len

public sealed partial class ModelPackage
{
    /// <summary>Writes a .bitt file atomically. The tensors must match <paramref name="config"/> (names and
    /// shapes, docs/model.md §2) and <paramref name="tokenizerJson"/> must be a JSON object; otherwise
    /// <see cref="ArgumentException"/> and any previous file at <paramref name="path"/> is left as it was.</summary>
    public static void WriteBitt(string path, BitLlamaConfig config, string tokenizerJson, IReadOnlyList<SafeTensorData> tensors)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte[] header = BuildBittHeader(config, tokenizerJson, tensors);
        AtomicFile.Write(path, stream =>
        {
            Span<byte> preamble = stackalloc byte[12];
            Magic.CopyTo(preamble);
            BinaryPrimitives.WriteUInt64LittleEndian(preamble[4..], (ulong)header.Length);
            stream.Write(preamble);
            stream.Write(header);
            SafeTensorsWriter.Write(stream, tensors);
        });
    }

    /// <summary>
    /// Writes a packed .bitt (docs/format.md §7) atomically: <paramref name="tensors"/> must be the packed tensors of
    /// <see cref="PackedWeights.Expected"/> (names, dtypes and shapes are checked before anything is written), and
    /// <paramref name="fingerprint"/> the fingerprint of the model they were packed from.
    /// </summary>
    public static void WriteBittPacked(string path, BitLlamaConfig config, string tokenizerJson, IReadOnlyList<SafeTensorBytes> tensors, string fingerprint)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        if (fingerprint is not { Length: 64 } || !fingerprint.All(char.IsAsciiHexDigitLower))
            throw new ArgumentException("the fingerprint must be 64 lowercase hex digits", nameof(fingerprint));
        CheckInputs(config, tokenizerJson, null);   // the packed tensors are checked below
        var expected = PackedWeights.Expected(config);
        var given = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var (name, dtype, shape) in expected)
            if (!given.TryGetValue(name, out var t) || t.DType != dtype || !t.Shape.AsSpan().SequenceEqual(shape))
                throw new ArgumentException($"packed tensor '{name}': expected {dtype} {SafeTensorShapes.Format(shape)}" +
                    (given.TryGetValue(name, out var found) ? $", found {found.DType} {SafeTensorShapes.Format(found.Shape)}" : ", missing"), nameof(tensors));
        byte[] header = BuildBittHeader(config, tokenizerJson, extra: json =>
        {
            json.WriteNumber("packing", PackedWeights.Version);
            json.WriteString("fingerprint", fingerprint);
        });
        AtomicFile.Write(path, stream =>
        {
            Span<byte> preamble = stackalloc byte[12];
            Magic.CopyTo(preamble);
            BinaryPrimitives.WriteUInt64LittleEndian(preamble[4..], (ulong)header.Length);
            stream.Write(preamble);
            stream.Write(header);
            SafeTensorsWriter.WriteBytes(stream, tensors);
        });
    }

    /// <summary>Writes config.json, tokenizer.json and model.safetensors into <paramref name="directory"/>.
    /// A new directory, or one that holds only a model, is replaced as a whole (<see cref="AtomicDirectory"/>):
    /// a reader or a crash sees the previous model or the new one, never a directory without config.json.
    /// A directory that holds other files too (a training run's output) gets the three files each atomically,
    /// weights first and config.json last.</summary>
    public static void WriteDirectory(string directory, BitLlamaConfig config, string tokenizerJson, IReadOnlyList<SafeTensorData> tensors)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        CheckInputs(config, tokenizerJson, tensors);
        if (HoldsOnlyAModel(directory))
        {
            AtomicDirectory.Write(directory, temp => WriteModelFiles(temp, config, tokenizerJson, tensors));
            return;
        }
        Directory.CreateDirectory(directory);
        SafeTensorsWriter.WriteFile(System.IO.Path.Combine(directory, WeightsFileName), tensors);
        AtomicFile.WriteAllText(System.IO.Path.Combine(directory, TokenizerFileName), tokenizerJson);
        config.Save(System.IO.Path.Combine(directory, ConfigFileName));
    }

    static bool HoldsOnlyAModel(string directory)
    {
        if (File.Exists(directory)) throw new IOException($"{directory}: a file is in the way of the model directory");
        if (!Directory.Exists(directory)) return true;
        string[] model = [ConfigFileName, TokenizerFileName, WeightsFileName, AlternateWeightsFileName];
        return Directory.EnumerateFileSystemEntries(directory).All(e => Array.IndexOf(model, System.IO.Path.GetFileName(e)) >= 0);
    }

    static void WriteModelFiles(string directory, BitLlamaConfig config, string tokenizerJson, IReadOnlyList<SafeTensorData> tensors)
    {
        using (var stream = new FileStream(System.IO.Path.Combine(directory, WeightsFileName), FileMode.CreateNew))
        {
            SafeTensorsWriter.Write(stream, tensors);
            stream.Flush(flushToDisk: true);
        }
        WriteText(System.IO.Path.Combine(directory, TokenizerFileName), tokenizerJson);
        WriteText(System.IO.Path.Combine(directory, ConfigFileName), config.ToJson());
    }

    static void WriteText(string path, string text)
    {
        using var stream = new FileStream(path, FileMode.CreateNew);
        stream.Write(new System.Text.UTF8Encoding(false).GetBytes(text));
        stream.Flush(flushToDisk: true);
    }

    static byte[] BuildBittHeader(BitLlamaConfig config, string tokenizerJson, IReadOnlyList<SafeTensorData> tensors)
    {
        CheckInputs(config, tokenizerJson, tensors);
        return BuildBittHeader(config, tokenizerJson, extra: null);
    }

    static byte[] BuildBittHeader(BitLlamaConfig config, string tokenizerJson, Action<Utf8JsonWriter>? extra)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WritePropertyName("config");
            config.ToJsonObject().WriteTo(json);
            json.WritePropertyName("tokenizer");
            json.WriteRawValue(tokenizerJson);
            extra?.Invoke(json);
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    static void CheckInputs(BitLlamaConfig config, string tokenizerJson, IReadOnlyList<SafeTensorData>? tensors)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tokenizerJson);
        try
        {
            config.Validate("config");
        }
        catch (BitLlamaFormatException e)
        {
            throw new ArgumentException(e.Message, nameof(config), e);
        }
        try
        {
            using var doc = JsonDocument.Parse(tokenizerJson);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ArgumentException($"tokenizer JSON must be an object, found {doc.RootElement.ValueKind}", nameof(tokenizerJson));
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"tokenizer JSON is invalid: {e.Message}", nameof(tokenizerJson), e);
        }
        if (tensors is not null) BitLlamaWeights.ValidateForWrite(tensors, config);
    }
}
