using System.Text.Json;
using System.Text.Json.Nodes;

namespace BitTtt;

/// <summary>Which TTT layer a model uses (docs/model.md §3a / §3b).</summary>
public enum TttType
{
    /// <summary>The seed's layer: reconstructs its own key with mini-batch TTT (docs/model.md §3a).</summary>
    Reconstruct,
    /// <summary>Delta-rule TTT: learns key→value associations per head, with a short causal convolution (docs/model.md §3b).</summary>
    Delta,
}

/// <summary>
/// The model's shape and hyper-parameters: <c>config.json</c> (docs/model.md §1). Unknown fields are kept in
/// <see cref="Extra"/> and written back; aliases are read but never written.
/// </summary>
public sealed record BitLlamaConfig
{
    public required int VocabSize { get; init; }
    public required int HiddenDim { get; init; }
    public required int NumLayers { get; init; }
    public required float InnerLr { get; init; }
    /// <summary>SwiGLU width; 0 means the default <c>4 * HiddenDim</c>.</summary>
    public int IntermediateDim { get => _intermediateDim == 0 ? 4 * HiddenDim : _intermediateDim; init => _intermediateDim = value; }
    public int TttChunk { get; init; } = Absent.TttChunk;
    public float RmsNormEps { get; init; } = Absent.RmsNormEps;
    public int ContextLen { get; init; } = Absent.ContextLen;
    /// <summary>The TTT layer; files that lack <c>ttt_type</c> are the seed's "reconstruct".</summary>
    public TttType TttType { get; init; } = Absent.TttType;
    /// <summary>Delta only: heads H.</summary>
    public int TttHeads { get; init; } = Absent.TttHeads;
    /// <summary>Delta only: head width dh; 0 means the default <c>HiddenDim / TttHeads</c>.</summary>
    public int TttHeadDim { get => _tttHeadDim == 0 && TttHeads > 0 ? HiddenDim / TttHeads : _tttHeadDim; init => _tttHeadDim = value; }
    /// <summary>Delta only: kernel K of the short causal convolution on q, k, v; 0 = none.</summary>
    public int TttConv { get; init; } = Absent.TttConv;
    /// <summary>Fields this version does not know, kept so a round trip loses nothing.</summary>
    public IReadOnlyDictionary<string, JsonNode?> Extra { get; init; } = new Dictionary<string, JsonNode?>();

    int _intermediateDim;
    int _tttHeadDim;

    /// <summary>
    /// What a field absent from <c>config.json</c> means (docs/model.md §1, "when absent"); a new config made in code
    /// starts from the same values. 0 for <c>intermediate_dim</c> and <c>ttt_head_dim</c> means "derived":
    /// <c>4 * hidden_dim</c> and <c>hidden_dim / ttt_heads</c>.
    /// </summary>
    public static class Absent
    {
        public const int IntermediateDim = 0;
        public const int TttChunk = 1;
        public const float RmsNormEps = 1e-5f;
        public const int ContextLen = 128;
        public const TttType TttType = BitTtt.TttType.Reconstruct;
        public const int TttHeads = 4;
        public const int TttHeadDim = 0;
        public const int TttConv = 4;
    }

    /// <summary>Reconstruct TTT inner width d = D/4.</summary>
    public int TttDim => HiddenDim / 4;

    /// <summary>Delta TTT projection width F = H·dh.</summary>
    public int TttInnerDim => TttHeads * TttHeadDim;

    /// <summary>"reconstruct" or "delta", as written in <c>config.json</c>.</summary>
    public static string TttTypeName(TttType type) => type == TttType.Delta ? "delta" : "reconstruct";

    static readonly string[] Known =
    [
        "vocab_size", "hidden_dim", "num_layers", "inner_lr", "intermediate_dim", "ttt_chunk", "rms_norm_eps",
        "context_len", "hidden_size", "num_hidden_layers", "n_layers", "intermediate_size",
        "ttt_type", "ttt_heads", "ttt_head_dim", "ttt_conv",
    ];

    static readonly string[] DeltaOnly = ["ttt_heads", "ttt_head_dim", "ttt_conv"];

    /// <summary>Checks every field; throws <see cref="BitLlamaFormatException"/> naming the first bad one.</summary>
    public BitLlamaConfig Validate(string? source = null)
    {
        void Fail(string message) => throw BitLlamaFormatException.In(source, message);
        if (VocabSize <= 0) Fail($"vocab_size must be positive, got {VocabSize}");
        if (HiddenDim <= 0 || HiddenDim % 4 != 0) Fail($"hidden_dim must be a positive multiple of 4, got {HiddenDim}");
        if (NumLayers <= 0) Fail($"num_layers must be positive, got {NumLayers}");
        if (IntermediateDim <= 0) Fail($"intermediate_dim must be positive, got {IntermediateDim}");
        if (TttChunk <= 0) Fail($"ttt_chunk must be positive, got {TttChunk}");
        if (ContextLen <= 0) Fail($"context_len must be positive, got {ContextLen}");
        if (!float.IsFinite(InnerLr) || InnerLr < 0) Fail($"inner_lr must be a finite number >= 0, got {InnerLr}");
        if (!float.IsFinite(RmsNormEps) || RmsNormEps <= 0) Fail($"rms_norm_eps must be a finite number > 0, got {RmsNormEps}");
        CheckSizes(Fail);
        if (TttType == TttType.Delta)
        {
            if (TttHeads <= 0) Fail($"ttt_heads must be positive, got {TttHeads}");
            if (_tttHeadDim == 0 && HiddenDim % TttHeads != 0)
                Fail($"ttt_heads must divide hidden_dim when ttt_head_dim is not given: {HiddenDim} is not a multiple of {TttHeads}");
            if (TttHeadDim <= 0) Fail($"ttt_head_dim must be positive, got {TttHeadDim}");
            if (TttConv < 0) Fail($"ttt_conv must be >= 0 (0 = no convolution), got {TttConv}");
        }
        else if (TttType != TttType.Reconstruct) Fail($"ttt_type must be \"reconstruct\" or \"delta\", got {(int)TttType}");
        return this;
    }

    /// <summary>Largest hidden_dim, intermediate_dim, ttt_heads × ttt_head_dim and ttt_conv accepted: every
    /// weight matrix must fit one .NET array (Array.MaxLength elements), and these bounds keep each product of
    /// two dimensions far below that without overflow.</summary>
    public const int MaxDimension = 1 << 20;

    /// <summary>Largest num_layers, context_len and ttt_chunk accepted.</summary>
    public const int MaxLayers = 1 << 16, MaxContextLen = 1 << 24;

    /// <summary>Largest ttt_conv accepted.</summary>
    public const int MaxTttConv = 64;

    /// <summary>Largest vocab_size accepted here; a tokenizer is held to <see cref="BitLlamaLoadLimits.MaxVocabSize"/>.</summary>
    public const int MaxVocabSize = 1 << 24;

    // Bounds that make the weight shapes representable (each matrix one array); a model this large is
    // then still checked against the bytes its weights file holds (BitLlamaWeights.Validate).
    void CheckSizes(Action<string> fail)
    {
        if (VocabSize > MaxVocabSize) fail($"vocab_size {VocabSize} is larger than {MaxVocabSize}");
        if (HiddenDim > MaxDimension) fail($"hidden_dim {HiddenDim} is larger than {MaxDimension}");
        if (IntermediateDim > MaxDimension) fail($"intermediate_dim {IntermediateDim} is larger than {MaxDimension}");
        if (NumLayers > MaxLayers) fail($"num_layers {NumLayers} is larger than {MaxLayers}");
        if (ContextLen > MaxContextLen) fail($"context_len {ContextLen} is larger than {MaxContextLen}");
        if (TttChunk > MaxContextLen) fail($"ttt_chunk {TttChunk} is larger than {MaxContextLen}");
        if ((long)VocabSize * HiddenDim > Array.MaxLength)
            fail($"vocab_size × hidden_dim = {(long)VocabSize * HiddenDim} values do not fit one array (at most {Array.MaxLength})");
        if ((long)IntermediateDim * HiddenDim > Array.MaxLength)
            fail($"intermediate_dim × hidden_dim = {(long)IntermediateDim * HiddenDim} values do not fit one array (at most {Array.MaxLength})");
        if (TttType == TttType.Delta)
        {
            if (TttHeads > MaxDimension) fail($"ttt_heads {TttHeads} is larger than {MaxDimension}");
            if (_tttHeadDim > MaxDimension) fail($"ttt_head_dim {_tttHeadDim} is larger than {MaxDimension}");
            if (TttConv > MaxTttConv) fail($"ttt_conv {TttConv} is larger than {MaxTttConv}");
            if ((long)TttHeads * TttHeadDim > MaxDimension)
                fail($"ttt_heads × ttt_head_dim = {(long)TttHeads * TttHeadDim} is larger than {MaxDimension}");
        }
    }

    /// <summary>Parses config JSON; <paramref name="source"/> names the file in errors. Duplicate keys, wrong
    /// JSON kinds and non-finite numbers are <see cref="BitLlamaFormatException"/>s naming the field.</summary>
    public static BitLlamaConfig FromJson(string json, string? source = "config.json", BitLlamaLoadLimits? limits = null)
    {
        limits ??= BitLlamaLoadLimits.Default;
        return FromJsonObject(StrictJson.ParseObject(json, source, "config", limits.MaxConfigJsonBytes, limits), source);
    }

    /// <summary>Reads a config from an already parsed object (e.g. the <c>config</c> of a .bitt header).</summary>
    public static BitLlamaConfig FromJsonObject(JsonObject obj, string? source = "config.json")
    {
        var extra = new Dictionary<string, JsonNode?>();
        foreach (var (key, value) in obj)
            if (Array.IndexOf(Known, key) < 0) extra[key] = value?.DeepClone();
        var type = ReadTttType(obj, source);
        if (type == TttType.Reconstruct)
            foreach (var field in DeltaOnly)
                if (obj.ContainsKey(field))
                    throw BitLlamaFormatException.In(source, $"field '{field}' applies only to ttt_type \"delta\", but ttt_type is \"reconstruct\"");
        return new BitLlamaConfig
        {
            VocabSize = ReadInt(obj, source, "vocab_size") ?? throw Missing(source, "vocab_size"),
            HiddenDim = ReadInt(obj, source, "hidden_dim", "hidden_size") ?? throw Missing(source, "hidden_dim"),
            NumLayers = ReadInt(obj, source, "num_layers", "num_hidden_layers", "n_layers") ?? throw Missing(source, "num_layers"),
            InnerLr = ReadFloat(obj, source, "inner_lr") ?? throw Missing(source, "inner_lr"),
            IntermediateDim = ReadInt(obj, source, "intermediate_dim", "intermediate_size") ?? Absent.IntermediateDim,
            TttChunk = ReadInt(obj, source, "ttt_chunk") ?? Absent.TttChunk,
            RmsNormEps = ReadFloat(obj, source, "rms_norm_eps") ?? Absent.RmsNormEps,
            ContextLen = ReadInt(obj, source, "context_len") ?? Absent.ContextLen,
            TttType = type,
            TttHeads = ReadInt(obj, source, "ttt_heads") ?? Absent.TttHeads,
            TttHeadDim = ReadInt(obj, source, "ttt_head_dim") ?? Absent.TttHeadDim,
            TttConv = ReadInt(obj, source, "ttt_conv") ?? Absent.TttConv,
            Extra = extra,
        }.Validate(source);
    }

    public static BitLlamaConfig Load(string path, BitLlamaLoadLimits? limits = null)
    {
        limits ??= BitLlamaLoadLimits.Default;
        byte[] bytes = StrictJson.ReadFile(path, "config file", limits.MaxConfigJsonBytes);
        return FromJsonObject(StrictJson.ParseObject(bytes, path, "config", limits.MaxConfigJsonBytes, limits), path);
    }

    /// <summary>The canonical JSON object: every field written, including <c>ttt_chunk</c> and <c>ttt_type</c>
    /// (the delta fields only for "delta"), plus <see cref="Extra"/>.</summary>
    public JsonObject ToJsonObject()
    {
        var obj = new JsonObject
        {
            ["vocab_size"] = VocabSize,
            ["hidden_dim"] = HiddenDim,
            ["num_layers"] = NumLayers,
            ["inner_lr"] = InnerLr,
            ["intermediate_dim"] = IntermediateDim,
            ["ttt_chunk"] = TttChunk,
            ["rms_norm_eps"] = RmsNormEps,
            ["context_len"] = ContextLen,
            ["ttt_type"] = TttTypeName(TttType),
        };
        if (TttType == TttType.Delta)
        {
            obj["ttt_heads"] = TttHeads;
            obj["ttt_head_dim"] = TttHeadDim;
            obj["ttt_conv"] = TttConv;
        }
        foreach (var (key, value) in Extra) obj[key] = value?.DeepClone();
        return obj;
    }

    // Relaxed escaping: a chat template's tokens read "<|end|>" in config.json, not "\u003C|end|\u003E".
    public string ToJson() => ToJsonObject().ToJsonString(new JsonSerializerOptions
    {
        WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    /// <summary>Writes <c>config.json</c> atomically (temp file + rename).</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());

    static BitLlamaFormatException Missing(string? source, string field) =>
        BitLlamaFormatException.In(source, $"required field '{field}' is missing");

    static TttType ReadTttType(JsonObject obj, string? source)
    {
        if (!obj.TryGetPropertyValue("ttt_type", out var node) || node is null) return Absent.TttType;
        if (node is JsonValue v && v.TryGetValue<string>(out var s))
        {
            if (s == "reconstruct") return TttType.Reconstruct;
            if (s == "delta") return TttType.Delta;
        }
        throw BitLlamaFormatException.In(source, $"field 'ttt_type' must be \"reconstruct\" or \"delta\", got {Shorten(node.ToJsonString())}");
    }

    /// <summary>A found value for a message: at most 80 characters, so a hostile 1 MB value is not echoed.</summary>
    static string Shorten(string text) => text.Length <= 80 ? text : text[..77] + "...";

    static JsonNode? Find(JsonObject obj, string[] names, out string name)
    {
        foreach (var n in names)
            if (obj.TryGetPropertyValue(n, out var node) && node is not null) { name = n; return node; }
        name = names[0];
        return null;
    }

    static int? ReadInt(JsonObject obj, string? source, params string[] names)
    {
        var node = Find(obj, names, out var name);
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d)
            && double.IsFinite(d) && d == Math.Floor(d) && d >= int.MinValue && d <= int.MaxValue)
            return (int)d;
        throw BitLlamaFormatException.In(source, $"field '{name}' must be an integer, got {Shorten(node.ToJsonString())}");
    }

    static float? ReadFloat(JsonObject obj, string? source, params string[] names)
    {
        var node = Find(obj, names, out var name);
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && double.IsFinite(d)
            && float.IsFinite((float)d))
            return (float)d;
        throw BitLlamaFormatException.In(source, $"field '{name}' must be a finite number, got {Shorten(node.ToJsonString())}");
    }
}
