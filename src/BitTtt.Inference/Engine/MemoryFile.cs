using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BitTtt.Inference.Engine;

/// <summary>
/// A session's TTT "memory" on disk: the per-layer TTT state and the position, tied to the model that
/// produced it.
/// <code>
/// // Binary format (little-endian)
/// // magic       "BTTM"                         4 bytes
/// // version     u32 = 2 (1 is still read: reconstruct only, no "ttt_type")
/// // header_len  u32
/// // header      header_len bytes of UTF-8 JSON:
/// //             {"model": "vocab 16384, hidden 256, ...", "fingerprint": "&lt;sha-256 hex of config + weights&gt;",
/// //              "ttt_type": "reconstruct" | "delta", "num_layers": N, "position": p,
/// //              reconstruct: "ttt_dim": d, "ttt_chunk": b;  delta: "ttt_heads": H, "ttt_head_dim": dh, "ttt_conv": K}
/// // body        reconstruct, for layer 0..N-1: W (d·d f32, row-major), then G (d·d f32)
/// //             delta, for layer 0..N-1: S (H·dh·dh f32, head by head, each row-major),
/// //                    then the conv tails xq, xk, xv ((K-1)·F f32 each, oldest row first; none when K ≤ 1)
/// </code>
/// Loading rejects a wrong magic or version, a truncated file, a file of the other TTT type or another
/// state shape (naming what this model expects), and a file from another model (different fingerprint),
/// naming both models.
/// </summary>
public static class MemoryFile
{
    static ReadOnlySpan<byte> Magic => "BTTM"u8;
    const uint Version = 2;

    public static void Save(SequenceState state, string path)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var w = state.Weights;
        var header = new JsonObject
        {
            ["model"] = w.Describe(),
            ["fingerprint"] = w.Fingerprint,
            ["position"] = state.Position,
        };
        foreach (var (key, value) in ShapeFields(w.Config)) header[key] = value;
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        AtomicFile.Write(path, stream =>
        {
            Span<byte> u32 = stackalloc byte[4];
            stream.Write(Magic);
            BinaryPrimitives.WriteUInt32LittleEndian(u32, Version); stream.Write(u32);
            BinaryPrimitives.WriteUInt32LittleEndian(u32, (uint)json.Length); stream.Write(u32);
            stream.Write(json);
            foreach (var tensor in StateTensors(state)) WriteFloats(stream, tensor);
        });
    }

    /// <summary>Replaces <paramref name="state"/> with the memory in <paramref name="path"/>; on any error the state is unchanged.</summary>
    public static void Load(SequenceState state, string path)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: memory file not found", path);
        byte[] bytes = File.ReadAllBytes(path);
        var weights = state.Weights;
        BitLlamaFormatException Bad(string message) => BitLlamaFormatException.In(path, message);
        if (bytes.Length < 12 || !bytes.AsSpan(0, 4).SequenceEqual(Magic))
            throw Bad($"not a BitLlama memory file: expected magic \"BTTM\", found {Describe(bytes.AsSpan(0, Math.Min(4, bytes.Length)))}");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4));
        if (version is not (1 or Version)) throw Bad($"memory file version {version} is not supported (expected 1 or {Version})");
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
        string fingerprint, model, type;
        long position;
        try
        {
            fingerprint = header["fingerprint"]?.GetValue<string>() ?? throw Bad("header has no 'fingerprint'");
            model = header["model"]?.GetValue<string>() ?? "unknown model";
            position = header["position"]?.GetValue<long>() ?? throw Bad("header has no 'position'");
            type = version == 1 ? "reconstruct" : header["ttt_type"]?.GetValue<string>() ?? throw Bad("header has no 'ttt_type'");
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw BitLlamaFormatException.In(path, $"header field has the wrong type: {e.Message}", e);
        }
        CheckShape(header, type, model, weights, Bad);
        if (fingerprint != weights.Fingerprint)
            throw Bad($"memory file belongs to another model: it was saved by [{model}] (fingerprint {fingerprint[..Math.Min(16, fingerprint.Length)]}), " +
                      $"this model is [{weights.Describe()}] (fingerprint {weights.Fingerprint[..16]})");
        if (position < 0) throw Bad($"position must be >= 0, found {position}");
        var tensors = StateTensors(state).ToArray();
        long expected = tensors.Sum(t => 4L * t.Length);
        long found = bytes.Length - 12 - headerLen;
        if (found != expected) throw Bad($"expected {expected} bytes of TTT state ({DescribeState(weights.Config)}), found {found}");
        var body = bytes.AsSpan((int)(12 + headerLen));
        foreach (var tensor in tensors)
        {
            ReadFloats(body[..(tensor.Length * 4)], tensor);
            body = body[(tensor.Length * 4)..];
        }
        state.Position = position;
    }

    /// <summary>The state arrays in file order: W, G per layer (reconstruct) or S, then the xq, xk, xv tails per layer (delta).</summary>
    static IEnumerable<float[]> StateTensors(SequenceState state)
    {
        var c = state.Weights.Config;
        for (int i = 0; i < c.NumLayers; i++)
        {
            if (c.TttType == TttType.Delta)
            {
                yield return state.S[i];
                yield return state.ConvTail[i];   // (3, K-1, F): xq, xk, xv tails in a row
            }
            else
            {
                yield return state.W[i];
                yield return state.G[i];
            }
        }
    }

    /// <summary>The header fields that fix the state's layout (also checked on load).</summary>
    static IEnumerable<(string Key, JsonNode Value)> ShapeFields(BitLlamaConfig c)
    {
        yield return ("ttt_type", BitLlamaConfig.TttTypeName(c.TttType));
        yield return ("num_layers", c.NumLayers);
        if (c.TttType == TttType.Delta)
        {
            yield return ("ttt_heads", c.TttHeads);
            yield return ("ttt_head_dim", c.TttHeadDim);
            yield return ("ttt_conv", c.TttConv);
        }
        else
        {
            yield return ("ttt_dim", c.TttDim);
            yield return ("ttt_chunk", c.TttChunk);
        }
    }

    /// <summary>A file of the other TTT type, or whose state has another shape, is one clear error naming what this model expects.</summary>
    static void CheckShape(JsonObject header, string type, string model, InferenceWeights weights, Func<string, BitLlamaFormatException> bad)
    {
        var c = weights.Config;
        string expectedType = BitLlamaConfig.TttTypeName(c.TttType);
        if (type != expectedType)
            throw bad($"memory file holds the state of a ttt_type \"{type}\" model [{model}], but this model is ttt_type \"{expectedType}\" [{weights.Describe()}]; " +
                      $"expected a memory of {DescribeState(c)}");
        foreach (var (key, value) in ShapeFields(c))
        {
            if (key is "ttt_type" or "ttt_chunk") continue;   // ttt_chunk: a different chunk is a different model, caught by the fingerprint
            var found = header[key];
            bool same = found is JsonValue v && v.TryGetValue<long>(out long n) && n == value.GetValue<int>();
            if (!same)
                throw bad($"memory file state has {key} {found?.ToJsonString() ?? "missing"} (saved by [{model}]), this model expects {key} {value.ToJsonString()} " +
                          $"[{weights.Describe()}]: {DescribeState(c)}");
        }
    }

    static string DescribeState(BitLlamaConfig c) => c.TttType == TttType.Delta
        ? $"{c.NumLayers} layers x (S {c.TttHeads}x{c.TttHeadDim}x{c.TttHeadDim} + conv tails 3x{SequenceState.TailRows(c)}x{c.TttInnerDim}) f32"
        : $"{c.NumLayers} layers x 2 x {c.TttDim}x{c.TttDim} f32";

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
