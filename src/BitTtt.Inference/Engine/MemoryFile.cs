using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BitTtt.Inference.Engine;

/// <summary>
/// A session's TTT "memory" on disk: the W and G of every layer and the position in the TTT chunk,
/// tied to the model that produced it.
/// <code>
/// // Binary format (little-endian)
/// // magic       "BTTM"                         4 bytes
/// // version     u32 = 1
/// // header_len  u32
/// // header      header_len bytes of UTF-8 JSON:
/// //             {"model": "vocab 16384, hidden 256, ...", "fingerprint": "&lt;sha-256 hex of config + weights&gt;",
/// //              "num_layers": N, "ttt_dim": d, "ttt_chunk": b, "position": p}
/// // body        for layer 0..N-1: W (d·d f32, row-major), then G (d·d f32)
/// </code>
/// Loading rejects a wrong magic or version, a truncated file, and a file from another model
/// (different fingerprint), naming both models.
/// </summary>
public static class MemoryFile
{
    static ReadOnlySpan<byte> Magic => "BTTM"u8;
    const uint Version = 1;

    public static void Save(SequenceState state, string path)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var w = state.Weights;
        var header = new JsonObject
        {
            ["model"] = w.Describe(),
            ["fingerprint"] = w.Fingerprint,
            ["num_layers"] = w.Config.NumLayers,
            ["ttt_dim"] = w.Config.TttDim,
            ["ttt_chunk"] = w.Config.TttChunk,
            ["position"] = state.Position,
        };
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        AtomicFile.Write(path, stream =>
        {
            Span<byte> u32 = stackalloc byte[4];
            stream.Write(Magic);
            BinaryPrimitives.WriteUInt32LittleEndian(u32, Version); stream.Write(u32);
            BinaryPrimitives.WriteUInt32LittleEndian(u32, (uint)json.Length); stream.Write(u32);
            stream.Write(json);
            for (int i = 0; i < w.Config.NumLayers; i++)
            {
                WriteFloats(stream, state.W[i]);
                WriteFloats(stream, state.G[i]);
            }
        });
    }

    /// <summary>Replaces <paramref name="state"/> with the memory in <paramref name="path"/>; on any error the state is unchanged.</summary>
    public static void Load(SequenceState state, string path)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: memory file not found", path);
        byte[] bytes = File.ReadAllBytes(path);
        var c = state.Weights.Config;
        BitLlamaFormatException Bad(string message) => BitLlamaFormatException.In(path, message);
        if (bytes.Length < 12 || !bytes.AsSpan(0, 4).SequenceEqual(Magic))
            throw Bad($"not a BitLlama memory file: expected magic \"BTTM\", found {Describe(bytes.AsSpan(0, Math.Min(4, bytes.Length)))}");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4));
        if (version != Version) throw Bad($"memory file version {version} is not supported (expected {Version})");
        long headerLen = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        if (12 + headerLen > bytes.Length) throw Bad($"header length {headerLen} exceeds the file size {bytes.Length} (truncated file?)");
        JsonObject header;
        try
        {
            header = JsonNode.Parse(bytes.AsSpan(12, (int)headerLen)) as JsonObject ?? throw Bad("header is not a JSON object");
        }
        catch (JsonException e)
        {
            throw BitLlamaFormatException.In(path, $"header is not valid JSON: {e.Message}", e);
        }
        string fingerprint, model;
        long position;
        try
        {
            fingerprint = header["fingerprint"]?.GetValue<string>() ?? throw Bad("header has no 'fingerprint'");
            model = header["model"]?.GetValue<string>() ?? "unknown model";
            position = header["position"]?.GetValue<long>() ?? throw Bad("header has no 'position'");
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw BitLlamaFormatException.In(path, $"header field has the wrong type: {e.Message}", e);
        }
        if (fingerprint != state.Weights.Fingerprint)
            throw Bad($"memory file belongs to another model: it was saved by [{model}] (fingerprint {fingerprint[..Math.Min(16, fingerprint.Length)]}), " +
                      $"this model is [{state.Weights.Describe()}] (fingerprint {state.Weights.Fingerprint[..16]})");
        if (position < 0) throw Bad($"position must be >= 0, found {position}");
        int d = c.TttDim;
        long expected = 2L * c.NumLayers * d * d * sizeof(float);
        long found = bytes.Length - 12 - headerLen;
        if (found != expected) throw Bad($"expected {expected} bytes of TTT state ({c.NumLayers} layers x 2 x {d}x{d} f32), found {found}");
        var body = bytes.AsSpan((int)(12 + headerLen));
        for (int i = 0; i < c.NumLayers; i++)
        {
            ReadFloats(body.Slice((2 * i) * d * d * 4, d * d * 4), state.W[i]);
            ReadFloats(body.Slice((2 * i + 1) * d * d * 4, d * d * 4), state.G[i]);
        }
        state.Position = position;
    }

    static string Describe(ReadOnlySpan<byte> magic) =>
        magic.Length == 0 ? "an empty file" : "\"" + Encoding.ASCII.GetString(magic).Replace("\0", "\\0") + "\"";

    static void WriteFloats(Stream stream, float[] values)
    {
        if (BitConverter.IsLittleEndian) { stream.Write(MemoryMarshal.AsBytes(values.AsSpan())); return; }
        Span<byte> b = stackalloc byte[4];
        foreach (var v in values) { BinaryPrimitives.WriteSingleLittleEndian(b, v); stream.Write(b); }
    }

    static void ReadFloats(ReadOnlySpan<byte> source, float[] destination)
    {
        for (int i = 0; i < destination.Length; i++) destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source.Slice(i * 4));
    }
}
