using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BitTtt.Training;

// Shape key (docs/model.md): B = batch, T = time, D = hidden, V = vocab, L = layers.

/// <summary>
/// BitLlama (docs/model.md §2–3): token embedding, L blocks of TTT + SwiGLU with BitLinear projections, final
/// RMSNorm, full-precision LM head. Field names are the safetensors keys, so <c>state_dict()</c> keys
/// are exactly docs/model.md §2's names (<c>layers.0.ttt.down.weight</c>, ...).
/// </summary>
public sealed class BitLlamaModel : nn.Module<Tensor, Tensor>
{
    private readonly Embedding embed;                 // (V, D)
    private readonly ModuleList<BitLlamaBlock> layers; // L blocks
    private readonly RMSNorm norm_f;                  // (D)
    private readonly Linear lm_head;                  // (V, D)

    public BitLlamaModel(BitLlamaConfig config) : base("bit_llama")
    {
        config.Validate();
        Config = config;
        embed = nn.Embedding(config.VocabSize, config.HiddenDim);
        layers = nn.ModuleList(Enumerable.Range(0, config.NumLayers)
            .Select(i => new BitLlamaBlock(i.ToString(System.Globalization.CultureInfo.InvariantCulture), config)).ToArray());
        norm_f = new RMSNorm(nameof(norm_f), config.HiddenDim, config.RmsNormEps);
        lm_head = nn.Linear(config.HiddenDim, config.VocabSize, hasBias: false);
        RegisterComponents();
    }

    public BitLlamaConfig Config { get; }

    /// <summary>Token ids (B, T) int64 -> logits (B, T, V), from a zero TTT state.</summary>
    public override Tensor forward(Tensor ids)
    {
        var (logits, state) = Forward(ids, null);
        state.Dispose();
        return logits;
    }

    /// <summary>
    /// Token ids (B, T) -> logits (B, T, V), continuing <paramref name="state"/> (zero when null) and
    /// returning the state after the last token. Feeding a sequence in segments, passing each returned
    /// state to the next call, gives the same logits as feeding it at once.
    /// </summary>
    public (Tensor Logits, TttState State) Forward(Tensor ids, TttState? state)
    {
        if (ids.dim() != 2) throw new ArgumentException($"token ids must have shape (batch, time), got [{string.Join(", ", ids.shape)}]", nameof(ids));
        if (state is not null && state.Layers.Count != layers.Count)
            throw new ArgumentException($"TTT state has {state.Layers.Count} layers, the model has {layers.Count}", nameof(state));
        using var scope = NewDisposeScope();
        if (ids.numel() > 0)
        {
            long min = ids.min().item<long>(), max = ids.max().item<long>();
            if (min < 0 || max >= Config.VocabSize)
                throw new ArgumentException($"token id {(min < 0 ? min : max)} is outside the vocabulary [0, {Config.VocabSize})", nameof(ids));
        }
        var h = embed.forward(ids);                                             // (B, T, D)
        var next = new TttLayerState[layers.Count];
        for (int i = 0; i < layers.Count; i++)
        {
            (h, next[i]) = layers[i].Forward(h, state?.Layers[i]);              // (B, T, D)
            next[i].MoveToOuterDisposeScope();
        }
        var logits = lm_head.forward(norm_f.forward(h));                        // (B, T, V)
        return (logits.MoveToOuterDisposeScope(), new TttState(next));
    }
}
