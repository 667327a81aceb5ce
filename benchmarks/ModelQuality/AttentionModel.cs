using BitTtt;
using BitTtt.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

// The yardstick, not the product: BitLlama with the TTT layer of each block replaced by causal softmax
// attention (4 heads, rotary positions, BitLinear projections), everything else as in BitLlamaModel.
// It shows what an in-context mixer of this size can reach with the same data and optimizer.
//
// Shape key (docs/model.md): B = batch, T = time, D = hidden, H = heads, dh = D / H, V = vocab.

/// <summary>Causal multi-head softmax attention with rotary position embeddings (RoFormer, Su et al. 2021).</summary>
sealed class CausalSelfAttention : nn.Module<Tensor, Tensor>
{
    private readonly BitLinear q_proj; // (D, D)
    private readonly BitLinear k_proj; // (D, D)
    private readonly BitLinear v_proj; // (D, D)
    private readonly BitLinear o_proj; // (D, D)
    readonly int _heads;

    public CausalSelfAttention(string name, int dim, int heads) : base(name)
    {
        if (dim % heads != 0 || dim / heads % 2 != 0)
            throw new ArgumentException($"attention: hidden_dim {dim} must split into {heads} heads of even width", nameof(dim));
        q_proj = new BitLinear(nameof(q_proj), dim, dim);
        k_proj = new BitLinear(nameof(k_proj), dim, dim);
        v_proj = new BitLinear(nameof(v_proj), dim, dim);
        o_proj = new BitLinear(nameof(o_proj), dim, dim);
        _heads = heads;
        RegisterComponents();
    }

    /// <summary>(B, T, D) -> (B, T, D); position t attends to positions 0..t.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], d = x.shape[2], dh = d / _heads;
        Tensor Heads(Tensor y) => y.view(b, t, _heads, dh).transpose(1, 2);   // (B, T, D) -> (B, H, T, dh)
        var (cos, sin) = Rotary(t, dh, x.device);                               // (T, dh/2) each
        var q = Rotate(Heads(q_proj.forward(x)), cos, sin);                      // (B, H, T, dh)
        var k = Rotate(Heads(k_proj.forward(x)), cos, sin);                      // (B, H, T, dh)
        var v = Heads(v_proj.forward(x));                                        // (B, H, T, dh)
        var scores = q.matmul(k.transpose(2, 3)) / Math.Sqrt(dh);                // (B, H, T, T)
        var future = ones(t, t, dtype: ScalarType.Bool, device: x.device).triu(1);
        var weights = scores.masked_fill(future, float.NegativeInfinity).softmax(-1);
        var mixed = weights.matmul(v).transpose(1, 2).reshape(b, t, d);          // (B, T, D)
        return o_proj.forward(mixed).MoveToOuterDisposeScope();
    }

    // Angles t·10000^(-2i/dh) for i < dh/2.
    static (Tensor Cos, Tensor Sin) Rotary(long t, long dh, Device device)
    {
        var inverse = pow(10000.0, -arange(0, dh, 2, dtype: ScalarType.Float32, device: device) / dh);   // (dh/2)
        var angles = arange(t, dtype: ScalarType.Float32, device: device).outer(inverse);                // (T, dh/2)
        return (angles.cos(), angles.sin());
    }

    // Rotates each pair (x[2i], x[2i+1]) of the last dimension by its angle: (B, H, T, dh) -> same.
    static Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
    {
        var pairs = x.view(x.shape[0], x.shape[1], x.shape[2], x.shape[3] / 2, 2);   // (B, H, T, dh/2, 2)
        var even = pairs.select(4, 0);
        var odd = pairs.select(4, 1);
        return stack([even * cos - odd * sin, even * sin + odd * cos], 4).flatten(3);
    }
}

/// <summary>A BitLlama block with attention in place of TTT: <c>h += attn(norm1(h)); h += mlp(norm2(h))</c>.</summary>
sealed class AttentionBlock : nn.Module<Tensor, Tensor>
{
    private readonly RMSNorm norm1; // (D)
    private readonly CausalSelfAttention attn;
    private readonly RMSNorm norm2; // (D)
    private readonly SwiGLU mlp;

    public AttentionBlock(string name, BitLlamaConfig config, int heads) : base(name)
    {
        norm1 = new RMSNorm(nameof(norm1), config.HiddenDim, config.RmsNormEps);
        attn = new CausalSelfAttention(nameof(attn), config.HiddenDim, heads);
        norm2 = new RMSNorm(nameof(norm2), config.HiddenDim, config.RmsNormEps);
        mlp = new SwiGLU(nameof(mlp), config.HiddenDim, config.IntermediateDim);
        RegisterComponents();
    }

    /// <summary>(B, T, D) -> (B, T, D).</summary>
    public override Tensor forward(Tensor h)
    {
        using var scope = NewDisposeScope();
        h = h + attn.forward(norm1.forward(h));
        h = h + mlp.forward(norm2.forward(h));
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>Embedding, attention blocks, final norm and LM head, shaped like <see cref="BitLlamaModel"/>.</summary>
sealed class AttentionModel : nn.Module<Tensor, Tensor>
{
    private readonly Embedding embed;                 // (V, D)
    private readonly ModuleList<AttentionBlock> layers;
    private readonly RMSNorm norm_f;                  // (D)
    private readonly Linear lm_head;                  // (V, D)

    public AttentionModel(BitLlamaConfig config, int heads = 4) : base("attention_llama")
    {
        Config = config;
        embed = nn.Embedding(config.VocabSize, config.HiddenDim);
        layers = nn.ModuleList(Enumerable.Range(0, config.NumLayers).Select(i => new AttentionBlock($"{i}", config, heads)).ToArray());
        norm_f = new RMSNorm(nameof(norm_f), config.HiddenDim, config.RmsNormEps);
        lm_head = nn.Linear(config.HiddenDim, config.VocabSize, hasBias: false);
        RegisterComponents();
    }

    public BitLlamaConfig Config { get; }

    /// <summary>Token ids (B, T) int64 -> logits (B, T, V).</summary>
    public override Tensor forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        var h = embed.forward(ids);                                             // (B, T, D)
        foreach (var layer in layers) h = layer.forward(h);                     // (B, T, D)
        return lm_head.forward(norm_f.forward(h)).MoveToOuterDisposeScope();   // (B, T, V)
    }
}
