using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BitTtt.Formats;

/// <summary>The model a memory file belongs to: its config (the state's shape), a one-line description and a fingerprint of config and weights.</summary>
public sealed record MemoryOwner(BitLlamaConfig Config, string Description, string Fingerprint);

/// <summary>
/// A session's TTT "memory" on disk (docs/model.md §4.4, docs/format.md §6): the per-layer TTT state and the
/// position, tied to the model that produced it. The engine hands the state over as float arrays in file order
/// (<see cref="Layout"/>); this class owns the bytes.
/// <code>
/// // Binary format (little-endian)
/// // magic       "BTTM"                         4 bytes
/// // version     u32 = 2 (1 is still read: reconstruct only, no "ttt_type")
/// // header_len  u32
/// // header      header_len bytes of UTF-8 JSON:
/// //             {"model": "vocab 16384, hidden 256, ...", "fingerprint": "&lt;sha-256 hex of config + weights&gt;",
/// //              "ttt_type": "reconstruct" | "delta", "num_layers": L, "position": p,
/// //              reconstruct: "ttt_dim": d, "ttt_chunk": b;  delta: "ttt_heads": H, "ttt_head_dim": dh, "ttt_conv": K}
/// // body        reconstruct, for layer 0..L-1: W (d·d f32, row-major), then G (d·d f32)
/// //             delta, for layer 0..L-1: S (H·dh·dh f32, head by head, each row-major),
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

    /// <summary>
    /// The state arrays in file order with their float counts: per layer W and G (d·d each) for reconstruct, or S
    /// (H·dh·dh) and the xq, xk, xv convolution tails in a row (3·(K−1)·F) for delta.
    /// </summary>
    public static IReadOnlyList<(string Name, int Length)> Layout(BitLlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var layout = new List<(string, int)>(2 * config.NumLayers);
        for (int i = 0; i < config.NumLayers; i++)
        {
            if (config.TttType == TttType.Delta)
            {
                layout.Add(($"layer {i} S", config.TttHeads * config.TttHeadDim * config.TttHeadDim));
                layout.Add(($"layer {i} conv tails", 3 * TailRows(config) * config.TttInnerDim));
            }
            else
            {
                layout.Add(($"layer {i} W", config.TttDim * config.TttDim));
                layout.Add(($"layer {i} G", config.TttDim * config.TttDim));
            }
        }
        return layout;
    }

    /// <summary>Writes the memory atomically; <paramref name="state"/> holds the arrays of <see cref="Layout"/>, in its order.</summary>
    public static void Save(string path, MemoryOwner owner, long position, IReadOnlyList<float[]> state)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(state);
        CheckArrays(owner.Config, state);
        AtomicFile.Write(path, stream => Write(stream, owner, position, state));
    }

    /// <summary>
    /// Writes the same bytes as <see cref="Save(string, MemoryOwner, long, IReadOnlyList{float[]})"/> to
    /// <paramref name="destination"/> at its current position (for a database value, a network stream or a
    /// <see cref="MemoryStream"/>); the stream is neither flushed nor closed.
    /// </summary>
    public static void Save(Stream destination, MemoryOwner owner, long position, IReadOnlyList<float[]> state)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(state);
        CheckArrays(owner.Config, state);
        Write(destination, owner, position, state);
    }

    static byte[] Header(MemoryOwner owner, long position)
    {
        var header = new JsonObject
        {
            ["model"] = owner.Description,
            ["fingerprint"] = owner.Fingerprint,
            ["position"] = position,
        };
        foreach (var (key, value) in ShapeFields(owner.Config)) header[key] = value;
        return Encoding.UTF8.GetBytes(header.ToJsonString());
    }

    static void Write(Stream stream, MemoryOwner owner, long position, IReadOnlyList<float[]> state)
    {
        byte[] json = Header(owner, position);
        Span<byte> u32 = stackalloc byte[4];
        stream.Write(Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(u32, Version); stream.Write(u32);
        BinaryPrimitives.WriteUInt32LittleEndian(u32, (uint)json.Length); stream.Write(u32);
        stream.Write(json);
        foreach (var tensor in state) WriteFloats(stream, tensor);
    }

    /// <summary>
    /// Reads the memory in <paramref name="path"/> into <paramref name="state"/> (the arrays of <see cref="Layout"/>, in
    /// its order) and returns its position; on any error the arrays are unchanged. Every malformed file is one
    /// <see cref="BitLlamaFormatException"/> naming the file and the field (magic, version, header_len, a header field,
    /// the state's byte count, a non-finite value); nothing sized by a number read from the file is allocated before
    /// that number is checked against the model and <paramref name="limits"/>.
    /// </summary>
    public static long Load(string path, MemoryOwner owner, IReadOnlyList<float[]> state, BitLlamaLoadLimits? limits = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(state);
        CheckArrays(owner.Config, state);
        limits ??= BitLlamaLoadLimits.Default;
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: memory file not found", path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        if (!stream.CanSeek) throw BitLlamaFormatException.In(path, "a memory file must be a regular file (found a pipe or device)");
        return Read(stream, stream.Length, path, message => BitLlamaFormatException.In(path, message), owner, state, limits);
    }

    /// <summary>
    /// Reads a memory from <paramref name="source"/> (all its bytes from the current position: what
    /// <see cref="Save(Stream, MemoryOwner, long, IReadOnlyList{float[]})"/> wrote) into <paramref name="state"/>, with
    /// the checks and errors of <see cref="Load(string, MemoryOwner, IReadOnlyList{float[]}, BitLlamaLoadLimits?)"/>;
    /// <paramref name="sourceName"/> (e.g. "conversation 4f2a memory") begins each error message in place of a file name.
    /// A stream that cannot seek is read into memory first, up to <see cref="BitLlamaLoadLimits.MaxMemoryFileBytes"/>.
    /// </summary>
    public static long Load(Stream source, string sourceName, MemoryOwner owner, IReadOnlyList<float[]> state, BitLlamaLoadLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrEmpty(sourceName);
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(state);
        CheckArrays(owner.Config, state);
        limits ??= BitLlamaLoadLimits.Default;
        BitLlamaFormatException Bad(string message) => new($"{sourceName}: {message}");
        if (!source.CanSeek)
        {
            var buffered = new MemoryStream();
            var chunk = new byte[81920];
            for (int n; (n = source.Read(chunk)) > 0;)
            {
                if (buffered.Length + n > limits.MaxMemoryFileBytes)
                    throw Bad($"memory is more than the {limits.MaxMemoryFileBytes}-byte limit (BitLlamaLoadLimits.MaxMemoryFileBytes)");
                buffered.Write(chunk, 0, n);
            }
            buffered.Position = 0;
            source = buffered;
        }
        return Read(source, source.Length - source.Position, sourceName, Bad, owner, state, limits);
    }

    /// <summary>The checks and reads of both Load forms; <paramref name="length"/> is the byte count from the stream's position.</summary>
    static long Read(Stream stream, long length, string sourceName, Func<string, BitLlamaFormatException> bad, MemoryOwner owner,
        IReadOnlyList<float[]> state, BitLlamaLoadLimits limits)
    {
        if (length > limits.MaxMemoryFileBytes)
            throw bad($"memory file is {length} bytes, more than the {limits.MaxMemoryFileBytes}-byte limit (BitLlamaLoadLimits.MaxMemoryFileBytes)");
        var (version, headerLen) = ReadPreamble(stream, length, limits, bad);
        var header = StrictJson.ParseObject(ReadExactly(stream, (int)headerLen), sourceName, "memory file header", limits.MaxConfigJsonBytes, limits);
        var h = MemoryHeader.Read(header, version, bad);
        CheckShape(header, h.Type, h.Model, owner, bad);
        if (h.Fingerprint != owner.Fingerprint)
            throw bad($"memory file belongs to another model: it was saved by [{h.Model}] (fingerprint {h.Fingerprint[..Math.Min(16, h.Fingerprint.Length)]}), " +
                      $"this model is [{owner.Description}] (fingerprint {owner.Fingerprint[..Math.Min(16, owner.Fingerprint.Length)]})");
        var layout = Layout(owner.Config);
        long expected = layout.Sum(t => 4L * t.Length);
        long found = length - 12 - headerLen;
        if (found < expected)
            throw bad($"truncated: expected {expected} bytes of TTT state after the header ({DescribeState(owner.Config)}), found {found}");
        if (found > expected)
            throw bad($"{found - expected} trailing bytes after the {expected} bytes of TTT state ({DescribeState(owner.Config)})");
        // Read into new arrays (sized by the model, not the file) and check them, so a bad file leaves the state as it was.
        var loaded = new float[layout.Count][];
        for (int t = 0; t < layout.Count; t++)
        {
            loaded[t] = new float[layout[t].Length];
            ReadFloats(stream, loaded[t]);
            int nonFinite = Array.FindIndex(loaded[t], v => !float.IsFinite(v));
            if (nonFinite >= 0) throw bad($"TTT state {layout[t].Name}[{nonFinite}] is {loaded[t][nonFinite]}; a saved state is always finite");
        }
        for (int t = 0; t < layout.Count; t++) loaded[t].CopyTo(state[t], 0);
        return h.Position;
    }

    /// <summary>The caller's arrays must be the model's state, array by array (an engine bug otherwise, not a file problem).</summary>
    static void CheckArrays(BitLlamaConfig config, IReadOnlyList<float[]> state)
    {
        var layout = Layout(config);
        if (state.Count != layout.Count || Enumerable.Range(0, layout.Count).Any(i => state[i]?.Length != layout[i].Length))
            throw new ArgumentException($"the state arrays do not match the model's memory layout ({DescribeState(config)})", nameof(state));
    }

    /// <summary>Pre-convolution rows a delta layer carries to the next token: K − 1 (none without a convolution).</summary>
    static int TailRows(BitLlamaConfig c) => c.TttType == TttType.Delta ? Math.Max(c.TttConv - 1, 0) : 0;

    /// <summary>Magic, version and header_len, each checked; header_len is bounded by the file and the config-size limit before the header is read.</summary>
    static (uint Version, long HeaderLen) ReadPreamble(Stream stream, long length, BitLlamaLoadLimits limits, Func<string, BitLlamaFormatException> bad)
    {
        byte[] preamble = ReadExactly(stream, (int)Math.Min(12, length));
        if (preamble.Length < 4 || !preamble.AsSpan(0, 4).SequenceEqual(Magic))
            throw bad($"not a BitLlama memory file: expected magic \"BTTM\", found {Describe(preamble.AsSpan(0, Math.Min(4, preamble.Length)))}");
        if (preamble.Length < 12)
            throw bad($"truncated: {length} bytes, shorter than the 12-byte start (magic, version, header_len)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(preamble.AsSpan(4));
        if (version is not (1 or Version)) throw bad($"memory file version {version} is not supported (expected 1 or {Version})");
        long headerLen = BinaryPrimitives.ReadUInt32LittleEndian(preamble.AsSpan(8));
        if (headerLen > limits.MaxConfigJsonBytes)
            throw bad($"header_len {headerLen} is more than the {limits.MaxConfigJsonBytes}-byte limit for a memory file header (BitLlamaLoadLimits.MaxConfigJsonBytes)");
        if (12 + headerLen > length) throw bad($"header length {headerLen} exceeds the file size {length} (truncated file?)");
        return (version, headerLen);
    }

    static byte[] ReadExactly(Stream stream, int count)
    {
        var bytes = new byte[count];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>The header fields a memory file must have, each of the JSON kind and range the writer produces.</summary>
    sealed record MemoryHeader(string Model, string Fingerprint, string Type, long Position)
    {
        public static MemoryHeader Read(JsonObject header, uint version, Func<string, BitLlamaFormatException> bad)
        {
            string[] known = version == 1 ? ["model", "fingerprint", "position", "num_layers", "ttt_dim", "ttt_chunk"]
                : ["model", "fingerprint", "position", "ttt_type", "num_layers", "ttt_dim", "ttt_chunk", "ttt_heads", "ttt_head_dim", "ttt_conv"];
            foreach (var (key, _) in header)
                if (!known.Contains(key)) throw bad($"unknown header field '{Escape(key)}' (a version {version} header has {string.Join(", ", known)})");
            string model = Escape(Shorten(Text(header, "model", bad), 300));
            string fingerprint = Text(header, "fingerprint", bad);
            if (fingerprint.Length != 64 || !fingerprint.All(char.IsAsciiHexDigitLower))
                throw bad($"header field 'fingerprint': expected 64 lowercase hex digits (a SHA-256), found \"{Escape(fingerprint[..Math.Min(70, fingerprint.Length)])}\"");
            long position = Integer(header, "position", bad);
            string type = version == 1 ? "reconstruct" : Text(header, "ttt_type", bad);
            if (type is not ("reconstruct" or "delta")) throw bad($"header field 'ttt_type': expected \"reconstruct\" or \"delta\", found \"{Escape(type)}\"");
            if (header.ContainsKey("ttt_chunk")) Integer(header, "ttt_chunk", bad);   // not compared (see CheckShape) but must be well formed
            return new MemoryHeader(model, fingerprint, type, position);
        }

        static string Text(JsonObject header, string key, Func<string, BitLlamaFormatException> bad) =>
            header[key] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>()
                : throw bad($"header field '{key}': expected a string, found {Kind(header, key)}");

        public static long Integer(JsonObject header, string key, Func<string, BitLlamaFormatException> bad) =>
            header[key] is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out long n) && n >= 0 ? n
                : throw bad($"header field '{key}': expected a non-negative integer, found {Kind(header, key)}");

        static string Kind(JsonObject header, string key) =>
            !header.ContainsKey(key) ? "nothing (missing)" : header[key] is null ? "null" : $"{Escape(Shorten(header[key]!.ToJsonString()))} ({header[key]!.GetValueKind()})";

        public static string Shorten(string s, int max = 40) => s.Length <= max ? s : s[..max] + "...";
    }

    /// <summary>Control characters of a file's string escaped, so an error message cannot drive a terminal.</summary>
    static string Escape(string s) =>
        string.Concat(s.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));

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
    static void CheckShape(JsonObject header, string type, string model, MemoryOwner owner, Func<string, BitLlamaFormatException> bad)
    {
        var c = owner.Config;
        string expectedType = BitLlamaConfig.TttTypeName(c.TttType);
        if (type != expectedType)
            throw bad($"memory file holds the state of a ttt_type \"{type}\" model [{model}], but this model is ttt_type \"{expectedType}\" [{owner.Description}]; " +
                      $"expected a memory of {DescribeState(c)}");
        foreach (var (key, value) in ShapeFields(c))
        {
            if (key is "ttt_type" or "ttt_chunk") continue;   // ttt_chunk: a different chunk is a different model, caught by the fingerprint
            var found = header[key];
            bool same = found is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<long>(out long n) && n == value.GetValue<int>();
            if (!same)
                throw bad($"memory file state has {key} {Escape(MemoryHeader.Shorten(found?.ToJsonString() ?? "missing"))} (saved by [{model}]), this model expects {key} {value.ToJsonString()} " +
                          $"[{owner.Description}]: {DescribeState(c)}");
        }
    }

    static string DescribeState(BitLlamaConfig c) => c.TttType == TttType.Delta
        ? $"{c.NumLayers} layers x (S {c.TttHeads}x{c.TttHeadDim}x{c.TttHeadDim} + conv tails 3x{TailRows(c)}x{c.TttInnerDim}) f32"
        : $"{c.NumLayers} layers x 2 x {c.TttDim}x{c.TttDim} f32";

    static string Describe(ReadOnlySpan<byte> magic) =>
        magic.Length == 0 ? "an empty file" : "\"" + Encoding.ASCII.GetString(magic).Replace("\0", "\\0") + "\"";

    static void WriteFloats(Stream stream, float[] values)
    {
        if (BitConverter.IsLittleEndian) { stream.Write(MemoryMarshal.AsBytes(values.AsSpan())); return; }
        Span<byte> b = stackalloc byte[4];
        foreach (var v in values) { BinaryPrimitives.WriteSingleLittleEndian(b, v); stream.Write(b); }
    }

    static void ReadFloats(Stream stream, float[] destination)
    {
        stream.ReadExactly(MemoryMarshal.AsBytes(destination.AsSpan()));
        if (!BitConverter.IsLittleEndian)
            for (int i = 0; i < destination.Length; i++)
                destination[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReverseEndianness(BitConverter.SingleToInt32Bits(destination[i])));
    }
}
