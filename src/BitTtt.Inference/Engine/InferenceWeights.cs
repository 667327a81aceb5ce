using BitTtt.Formats;
using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Engine;

/// <summary>
/// One layer's weights (docs/model.md §2): full-precision norms, BitLinear weights packed to 2-bit ternary.
/// The TTT sub-layer is either <see cref="Reconstruct"/> or <see cref="Delta"/>, as the config's <c>ttt_type</c>
/// says; the other is null. Internal so the arrays cannot be changed under running sessions.
/// Shape key (docs/model.md): D = hidden, I = intermediate.
/// </summary>
internal sealed class LayerWeights
{
    internal required float[] Norm1 { get; init; }                 // (D)
    internal ReconstructWeights? Reconstruct { get; init; }        // ttt.down, ttt.up (docs/model.md §3a)
    internal DeltaWeights? Delta { get; init; }                    // ttt.q_proj, ... (docs/model.md §3b)
    internal required float[] Norm2 { get; init; }                 // (D)
    internal required PackedTernaryMatrix GateProj { get; init; }  // (I, D)
    internal required PackedTernaryMatrix UpProj { get; init; }    // (I, D)
    internal required PackedTernaryMatrix DownProj { get; init; }  // (D, I)
}

/// <summary>
/// The model's weights as the engine uses them, loaded once and never changed, so any number of sessions may read
/// them concurrently: BitLinear weights packed to 2-bit ternary, norms and the delta layer's small tensors in fp32,
/// the embedding in fp32 (int8 rows when read from a packed file) and the LM head in int8 with a scale per row
/// (fp32 when <see cref="InferenceOptions.Int8LmHead"/> is off). Shape key (docs/model.md): V = vocab, D = hidden, L = layers.
/// </summary>
public sealed class InferenceWeights
{
    readonly Lazy<WorkerTeam> _team = new(WorkerTeam.ForMachine);

    public BitLlamaConfig Config { get; }
    // Internal so no caller can change the arrays under running sessions.
    internal float[]? Embed { get; private init; }          // (V, D) fp32, or
    internal sbyte[]? EmbedInt8 { get; private init; }      // (V, D) int8 rows (a packed file) ...
    internal float[]? EmbedScales { get; private init; }    // (V)    ... with their scales
    internal IReadOnlyList<LayerWeights> Layers { get; }    // L
    internal float[] NormF { get; }                         // (D)
    internal float[]? LmHead { get; private init; }         // (V, D) fp32 (docs/model.md §3), only with Int8LmHead off
    internal Int8RowMatrix? LmHeadInt8 { get; private init; }   // (V, D) int8 with a scale per row: the default

    /// <summary>True when the LM head runs on int8 rows (<see cref="InferenceOptions.Int8LmHead"/>, the default).</summary>
    public bool UsesInt8LmHead => LmHeadInt8 is not null;

    /// <summary>True when the embedding is held as int8 rows (a packed file).</summary>
    public bool UsesInt8Embedding => EmbedInt8 is not null;

    /// <summary>The threads a forward step of this model splits its stages across (made on first use; helpers exit when idle).</summary>
    internal WorkerTeam Team => _team.Value;

    InferenceWeights(BitLlamaConfig config, LayerWeights[] layers, float[] normF, string fingerprint)
    {
        Config = config;
        Layers = layers;
        NormF = normF;
        Fingerprint = fingerprint;
    }

    /// <summary>Builds the weights from tensors in memory (e.g. straight from the trainer, or a <see cref="RandomModel"/>),
    /// by docs/model.md §2 names; copies what it keeps. Throws <see cref="ArgumentException"/> naming a missing or misshapen tensor.</summary>
    public static InferenceWeights Load(BitLlamaConfig config, IReadOnlyList<SafeTensorData> tensors, InferenceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var byName = new Dictionary<string, SafeTensorData>();
        foreach (var t in tensors) byName[t.Name] = t;
        return Load(config, (name, shape) =>
        {
            if (!byName.TryGetValue(name, out var t))
                throw new ArgumentException($"tensor '{name}' is missing (expected shape [{string.Join(", ", shape)}])", nameof(tensors));
            if (!t.Shape.SequenceEqual(shape))
                throw new ArgumentException($"tensor '{name}': expected shape [{string.Join(", ", shape)}], found [{string.Join(", ", t.Shape)}]", nameof(tensors));
            return t.Data.ToArray();
        }, options);
    }

    /// <summary>
    /// Builds the weights from a tensor source: <paramref name="read"/> returns the float data of a
    /// docs/model.md §2 name given its expected [rows, cols] shape, and throws naming the tensor when it differs.
    /// The fingerprint is hashed as the tensors pass (so the fp32 LM head need not be kept).
    /// </summary>
    public static InferenceWeights Load(BitLlamaConfig config, Func<string, long[], float[]> read, InferenceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        options ??= new InferenceOptions();
        int v = config.VocabSize, dim = config.HiddenDim;
        using var hash = new WeightsHash(Describe(config), config);
        float[] Read(string name, long[] shape)
        {
            var data = read(name, shape);
            long expected = shape.Aggregate(1L, (a, b) => a * b);
            if (data.LongLength != expected)
                throw new ArgumentException($"tensor '{name}': expected {expected} values for shape [{string.Join(", ", shape)}], found {data.LongLength}");
            return data;
        }
        PackedTernaryMatrix Ternary(string name, long[] shape)
        {
            int rows = (int)shape[0], cols = (int)shape[1];
            var (ternary, scale) = TernaryPacking.Ternarize(Read(name, shape));
            hash.Ternary(ternary, rows, cols, scale);
            return PackedTernaryMatrix.FromTernary(ternary, rows, cols, scale);
        }
        var embed = hash.Floats(Read(BitLlamaWeights.Embed, [v, dim]));   // the fingerprint's order: embed, layers, norm_f, lm_head
        var layers = new LayerWeights[config.NumLayers];
        for (int i = 0; i < layers.Length; i++) layers[i] = LoadLayer(config, i, Read, hash.Floats, Ternary);
        var normF = hash.Floats(Read(BitLlamaWeights.NormF, [dim]));
        var lmHead = hash.Floats(Read(BitLlamaWeights.LmHead, [v, dim]));
        return new InferenceWeights(config, layers, normF, hash.Finish())
        {
            Embed = embed,
            LmHead = options.Int8LmHead ? null : lmHead,
            LmHeadInt8 = options.Int8LmHead ? Int8RowMatrix.Quantize(lmHead, v, dim) : null,
        };
    }

    /// <summary>
    /// The weights of a packed file (<see cref="PackedBitt"/>): full-precision tensors from <paramref name="full"/>, ternary
    /// ones as packed, the embedding and head as int8 rows (the head dequantized to fp32 when Int8LmHead is off).
    /// </summary>
    internal static InferenceWeights FromParts(BitLlamaConfig config, string fingerprint, InferenceOptions options, Func<string, long[], float[]> full,
        Func<string, long[], PackedTernaryMatrix> ternary, (sbyte[] Values, float[] Scales) embed, Func<Int8RowMatrix> head)
    {
        config.Validate();
        int v = config.VocabSize, dim = config.HiddenDim;
        var layers = new LayerWeights[config.NumLayers];
        for (int i = 0; i < layers.Length; i++) layers[i] = LoadLayer(config, i, full, x => x, ternary);
        var normF = full(BitLlamaWeights.NormF, [dim]);
        var int8 = head();
        float[]? fp32 = null;
        if (!options.Int8LmHead)
        {
            var (values, scales) = int8.ToRowMajor();
            fp32 = Int8Rows.Dequantize(values, scales, v, dim);
        }
        return new InferenceWeights(config, layers, normF, fingerprint)
        {
            EmbedInt8 = embed.Values,
            EmbedScales = embed.Scales,
            LmHeadInt8 = options.Int8LmHead ? int8 : null,
            LmHead = fp32,
        };
    }

    /// <summary>One layer: <paramref name="full"/> reads a full-precision tensor, <paramref name="kept"/> sees each as the engine keeps it.</summary>
    static LayerWeights LoadLayer(BitLlamaConfig config, int i, Func<string, long[], float[]> full, Func<float[], float[]> kept,
        Func<string, long[], PackedTernaryMatrix> ternary)
    {
        int dim = config.HiddenDim, d = config.TttDim, inter = config.IntermediateDim;
        string L(string suffix) => BitLlamaWeights.Layer(i, suffix);
        float[] Full(string name, params long[] shape) => kept(full(name, shape));
        PackedTernaryMatrix Ternary(string name, int rows, int cols) => ternary(name, [rows, cols]);
        var norm1 = Full(L(BitLlamaWeights.Norm1), dim);
        ReconstructWeights? reconstruct = null;
        DeltaWeights? delta = null;
        if (config.TttType == TttType.Delta)
        {
            int f = config.TttInnerDim, heads = config.TttHeads, taps = config.TttConv;
            var (q, k, vp, o) = (Ternary(L(BitLlamaWeights.TttQProj), f, dim), Ternary(L(BitLlamaWeights.TttKProj), f, dim),
                Ternary(L(BitLlamaWeights.TttVProj), f, dim), Ternary(L(BitLlamaWeights.TttOProj), dim, f));
            var (betaW, betaB) = (Full(L(BitLlamaWeights.TttBetaWeight), heads, dim), Full(L(BitLlamaWeights.TttBetaBias), heads));
            float[] Conv(string suffix) => taps == 0 ? [] : kept(DeltaWeights.Transpose(full(L(suffix), [f, taps]), f, taps));
            delta = new DeltaWeights
            {
                QProj = q, KProj = k, VProj = vp, OProj = o, BetaWeight = betaW, BetaBias = betaB,
                QConvT = Conv(BitLlamaWeights.TttQConv), KConvT = Conv(BitLlamaWeights.TttKConv), VConvT = Conv(BitLlamaWeights.TttVConv),
            };
        }
        else reconstruct = new ReconstructWeights { Down = Ternary(L(BitLlamaWeights.TttDown), d, dim), Up = Ternary(L(BitLlamaWeights.TttUp), dim, d) };
        return new LayerWeights
        {
            Norm1 = norm1, Reconstruct = reconstruct, Delta = delta,
            Norm2 = Full(L(BitLlamaWeights.Norm2), dim),
            GateProj = Ternary(L(BitLlamaWeights.GateProj), inter, dim),
            UpProj = Ternary(L(BitLlamaWeights.UpProj), inter, dim),
            DownProj = Ternary(L(BitLlamaWeights.DownProj), dim, inter),
        };
    }

    /// <summary>The ternary weight of a docs/model.md §2 name, as the engine holds it.</summary>
    internal PackedTernaryMatrix Ternary(string name)
    {
        var (layer, suffix) = Split(name);
        var l = Layers[layer];
        return suffix switch
        {
            BitLlamaWeights.TttDown => l.Reconstruct!.Down,
            BitLlamaWeights.TttUp => l.Reconstruct!.Up,
            BitLlamaWeights.TttQProj => l.Delta!.QProj,
            BitLlamaWeights.TttKProj => l.Delta!.KProj,
            BitLlamaWeights.TttVProj => l.Delta!.VProj,
            BitLlamaWeights.TttOProj => l.Delta!.OProj,
            BitLlamaWeights.GateProj => l.GateProj,
            BitLlamaWeights.UpProj => l.UpProj,
            BitLlamaWeights.DownProj => l.DownProj,
            _ => throw new ArgumentException($"'{name}' is not a ternary weight", nameof(name)),
        };
    }

    /// <summary>A full-precision tensor of a docs/model.md §2 name in its file layout (the conv weights back to (F, K)).</summary>
    internal float[] FullPrecision(string name)
    {
        if (name == BitLlamaWeights.NormF) return NormF;
        var (layer, suffix) = Split(name);
        var l = Layers[layer];
        int f = Config.TttInnerDim, taps = Config.TttConv;
        return suffix switch
        {
            BitLlamaWeights.Norm1 => l.Norm1,
            BitLlamaWeights.Norm2 => l.Norm2,
            BitLlamaWeights.TttBetaWeight => l.Delta!.BetaWeight,
            BitLlamaWeights.TttBetaBias => l.Delta!.BetaBias,
            BitLlamaWeights.TttQConv => DeltaWeights.Transpose(l.Delta!.QConvT, taps, f),
            BitLlamaWeights.TttKConv => DeltaWeights.Transpose(l.Delta!.KConvT, taps, f),
            BitLlamaWeights.TttVConv => DeltaWeights.Transpose(l.Delta!.VConvT, taps, f),
            _ => throw new ArgumentException($"'{name}' is not a full-precision layer tensor", nameof(name)),
        };
    }

    /// <summary>"layers.{i}.{suffix}" → (i, suffix).</summary>
    static (int Layer, string Suffix) Split(string name)
    {
        const string prefix = "layers.";
        int dot = name.StartsWith(prefix, StringComparison.Ordinal) ? name.IndexOf('.', prefix.Length) : -1;
        if (dot < 0 || !int.TryParse(name.AsSpan(prefix.Length, dot - prefix.Length), out int layer))
            throw new ArgumentException($"'{name}' is not a layer tensor", nameof(name));
        return (layer, name[(dot + 1)..]);
    }

    /// <summary>Row <paramref name="token"/> of the embedding as floats (an int8 row times its scale).</summary>
    internal void EmbedRow(int token, Span<float> destination)
    {
        int dim = Config.HiddenDim;
        if (Embed is not null)
        {
            Embed.AsSpan(token * dim, dim).CopyTo(destination);
            return;
        }
        var q = EmbedInt8.AsSpan(token * dim, dim);
        float scale = EmbedScales![token];
        for (int i = 0; i < dim; i++) destination[i] = q[i] * scale;
    }

    /// <summary>
    /// Identifies this model for memory files: a SHA-256 over the config and every weight as the engine holds it,
    /// in the byte form it has always had (hashed while loading; a packed file carries its source's).
    /// </summary>
    public string Fingerprint { get; }

    /// <summary>
    /// A short human description of the model's shape, used in error messages and hashed into the
    /// <see cref="Fingerprint"/>. The reconstruct form is the one memory files of version 1 were tied
    /// to, so it must not change; a delta model names its TTT fields instead of ttt_chunk, which does
    /// not change a delta model's function (docs/model.md §1).
    /// </summary>
    public string Describe() => Describe(Config);

    static string Describe(BitLlamaConfig c)
    {
        string common = $"vocab {c.VocabSize}, hidden {c.HiddenDim}, layers {c.NumLayers}, intermediate {c.IntermediateDim}";
        return c.TttType == TttType.Delta
            ? $"{common}, ttt_type delta, ttt_heads {c.TttHeads}, ttt_head_dim {c.TttHeadDim}, ttt_conv {c.TttConv}"
            : $"{common}, ttt_chunk {c.TttChunk}";
    }

    /// <summary>Bytes held by weights (packed ternary + full-precision tensors + the int8 head and embedding).</summary>
    public long SizeInBytes =>
        4L * ((Embed?.LongLength ?? 0) + (EmbedScales?.LongLength ?? 0) + NormF.LongLength + (LmHead?.LongLength ?? 0)) +
        (EmbedInt8?.LongLength ?? 0) + (LmHeadInt8?.SizeInBytes ?? 0) +
        Layers.Sum(l => 4L * (l.Norm1.Length + l.Norm2.Length) + (l.Reconstruct?.SizeInBytes ?? 0) + (l.Delta?.SizeInBytes ?? 0) +
                        l.GateProj.SizeInBytes + l.UpProj.SizeInBytes + l.DownProj.SizeInBytes);
}
