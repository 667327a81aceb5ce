using System.Security.Cryptography;
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
/// The model's weights as the engine uses them, loaded once and never changed, so any number of
/// sessions may read them concurrently. Shape key (docs/model.md): V = vocab, D = hidden, L = layers.
/// </summary>
public sealed class InferenceWeights
{
    readonly Lazy<string> _fingerprint;

    public BitLlamaConfig Config { get; }
    // Internal so no caller can change the arrays under running sessions.
    internal float[] Embed { get; }          // (V, D)
    internal IReadOnlyList<LayerWeights> Layers { get; }   // L
    internal float[] NormF { get; }          // (D)
    internal float[] LmHead { get; }         // (V, D) full precision (docs/model.md §3)
    internal Int8RowMatrix? LmHeadInt8 { get; init; }   // (V, D) optional int8 copy (InferenceOptions.Int8LmHead)

    /// <summary>True when the LM head runs on its int8 copy (<see cref="InferenceOptions.Int8LmHead"/>).</summary>
    public bool UsesInt8LmHead => LmHeadInt8 is not null;

    InferenceWeights(BitLlamaConfig config, float[] embed, LayerWeights[] layers, float[] normF, float[] lmHead)
    {
        Config = config;
        Embed = embed;
        Layers = layers;
        NormF = normF;
        LmHead = lmHead;
        _fingerprint = new Lazy<string>(ComputeFingerprint);
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
    /// </summary>
    public static InferenceWeights Load(BitLlamaConfig config, Func<string, long[], float[]> read, InferenceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        int v = config.VocabSize, dim = config.HiddenDim, d = config.TttDim, inter = config.IntermediateDim;
        float[] Read(string name, params long[] shape)
        {
            var data = read(name, shape);
            long expected = shape.Aggregate(1L, (a, b) => a * b);
            if (data.LongLength != expected)
                throw new ArgumentException($"tensor '{name}': expected {expected} values for shape [{string.Join(", ", shape)}], found {data.LongLength}");
            return data;
        }
        PackedTernaryMatrix Ternary(string name, int rows, int cols) =>
            PackedTernaryMatrix.Quantize(Read(name, rows, cols), rows, cols);

        ReconstructWeights Reconstruct(int i)
        {
            string L(string suffix) => BitLlamaWeights.Layer(i, suffix);
            return new ReconstructWeights
            {
                Down = Ternary(L(BitLlamaWeights.TttDown), d, dim),
                Up = Ternary(L(BitLlamaWeights.TttUp), dim, d),
            };
        }
        DeltaWeights Delta(int i)
        {
            string L(string suffix) => BitLlamaWeights.Layer(i, suffix);
            int f = config.TttInnerDim, heads = config.TttHeads, taps = config.TttConv;
            float[] Conv(string suffix) => taps == 0 ? [] : DeltaWeights.Transpose(Read(L(suffix), f, taps), f, taps);
            return new DeltaWeights
            {
                QProj = Ternary(L(BitLlamaWeights.TttQProj), f, dim),
                KProj = Ternary(L(BitLlamaWeights.TttKProj), f, dim),
                VProj = Ternary(L(BitLlamaWeights.TttVProj), f, dim),
                OProj = Ternary(L(BitLlamaWeights.TttOProj), dim, f),
                BetaWeight = Read(L(BitLlamaWeights.TttBetaWeight), heads, dim),
                BetaBias = Read(L(BitLlamaWeights.TttBetaBias), heads),
                QConvT = Conv(BitLlamaWeights.TttQConv),
                KConvT = Conv(BitLlamaWeights.TttKConv),
                VConvT = Conv(BitLlamaWeights.TttVConv),
            };
        }

        bool delta = config.TttType == TttType.Delta;
        var layers = new LayerWeights[config.NumLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string L(string suffix) => BitLlamaWeights.Layer(i, suffix);
            layers[i] = new LayerWeights
            {
                Norm1 = Read(L(BitLlamaWeights.Norm1), dim),
                Reconstruct = delta ? null : Reconstruct(i),
                Delta = delta ? Delta(i) : null,
                Norm2 = Read(L(BitLlamaWeights.Norm2), dim),
                GateProj = Ternary(L(BitLlamaWeights.GateProj), inter, dim),
                UpProj = Ternary(L(BitLlamaWeights.UpProj), inter, dim),
                DownProj = Ternary(L(BitLlamaWeights.DownProj), dim, inter),
            };
        }
        var lmHead = Read(BitLlamaWeights.LmHead, v, dim);
        return new InferenceWeights(config, Read(BitLlamaWeights.Embed, v, dim), layers, Read(BitLlamaWeights.NormF, dim), lmHead)
        {
            LmHeadInt8 = options?.Int8LmHead == true ? Int8RowMatrix.Quantize(lmHead, v, dim) : null,
        };
    }

    /// <summary>
    /// Identifies this model for memory files: a SHA-256 over the config and every weight as the engine
    /// holds it (computed on first use, ~20 ms for the default model).
    /// </summary>
    public string Fingerprint => _fingerprint.Value;

    /// <summary>logits = lm_head · hidden, the LM head alone (D) -> (V) as decode runs it; for benchmarks.</summary>
    public void LmHeadLogits(float[] hidden, float[] logits)
    {
        if (hidden.Length != Config.HiddenDim || logits.Length != Config.VocabSize)
            throw new ArgumentException($"expected hidden ({Config.HiddenDim}) and logits ({Config.VocabSize}), got {hidden.Length} and {logits.Length}");
        (LmHeadInt8 is { } q ? new SplitGemv(q, hidden, logits) : new SplitGemv(LmHead, hidden, logits)).Run();
    }

    /// <summary>
    /// A short human description of the model's shape, used in error messages and hashed into the
    /// <see cref="Fingerprint"/>. The reconstruct form is the one memory files of version 1 were tied
    /// to, so it must not change; a delta model names its TTT fields instead of ttt_chunk, which does
    /// not change a delta model's function (docs/model.md §1).
    /// </summary>
    public string Describe()
    {
        var c = Config;
        string common = $"vocab {c.VocabSize}, hidden {c.HiddenDim}, layers {c.NumLayers}, intermediate {c.IntermediateDim}";
        return c.TttType == TttType.Delta
            ? $"{common}, ttt_type delta, ttt_heads {c.TttHeads}, ttt_head_dim {c.TttHeadDim}, ttt_conv {c.TttConv}"
            : $"{common}, ttt_chunk {c.TttChunk}";
    }

    /// <summary>Bytes held by weights (packed ternary + full-precision tensors + the optional int8 head).</summary>
    public long SizeInBytes =>
        4L * (Embed.LongLength + NormF.LongLength + LmHead.LongLength) + (LmHeadInt8?.SizeInBytes ?? 0) +
        Layers.Sum(l => 4L * (l.Norm1.Length + l.Norm2.Length) + (l.Reconstruct?.SizeInBytes ?? 0) + (l.Delta?.SizeInBytes ?? 0) +
                        l.GateProj.SizeInBytes + l.UpProj.SizeInBytes + l.DownProj.SizeInBytes);

    string ComputeFingerprint()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes(Describe() + $", inner_lr {Config.InnerLr:R}, eps {Config.RmsNormEps:R}"));
        void Floats(float[] x) => sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(x.AsSpan()));
        void Packed(PackedTernaryMatrix m)
        {
            sha.AppendData(BitConverter.GetBytes(m.Scale));
            sha.AppendData(m.Data);
        }
        Floats(Embed);
        foreach (var l in Layers)
        {
            Floats(l.Norm1);
            if (l.Delta is { } dl)
            {
                Packed(dl.QProj); Packed(dl.KProj); Packed(dl.VProj); Packed(dl.OProj);
                Floats(dl.BetaWeight); Floats(dl.BetaBias); Floats(dl.QConvT); Floats(dl.KConvT); Floats(dl.VConvT);
            }
            else { Packed(l.Reconstruct!.Down); Packed(l.Reconstruct.Up); }
            Floats(l.Norm2);
            Packed(l.GateProj); Packed(l.UpProj); Packed(l.DownProj);
        }
        Floats(NormF);
        Floats(LmHead);
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
