using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BitTtt.Training;

// Shape key (docs/model.md): B = batch, T = time, D = hidden, H = heads, dh = head width, F = H·dh, K = conv kernel,
// Kt = max(K − 1, 0) tail rows, b = ttt_chunk, Tc = tokens of one chunk (min(b, T)), Nc = chunks of one call.

/// <summary>
/// Delta-rule test-time-training layer (docs/model.md §3b). Per head an inner linear map S (dh × dh) takes one
/// gradient step per token on ½‖S k − v‖² and is then read with the query:
/// <c>S ← S − β (S k − v) kᵀ; o = S q</c>, with q, k, v from BitLinear projections after a short causal
/// depthwise convolution, q and k L2-normalized per head, <c>β = inner_lr · sigmoid(beta_proj(a))</c> per
/// head, and <c>out = o_proj(concat_h(o) + v)</c>. Training runs the exact chunk-parallel (WY/UT) form of
/// <see cref="ChunkForm"/>; <c>ttt_chunk</c> is only its block size. Gradients flow through every update.
/// </summary>
/// <remarks>
/// Initialization: the projections like every BitLinear (uniform ±1/√fan_in); each convolution is the
/// identity (last tap 1, earlier taps 0), so a new layer starts as the plain delta rule and learns how
/// much of the previous tokens to mix in; <c>beta_proj</c> has nn.Linear's weight and a zero bias, so β
/// starts near <c>inner_lr / 2</c>.
/// </remarks>
public sealed class DeltaTttLayer : TttMixer
{
    private readonly BitLinear q_proj;        // (F, D)
    private readonly BitLinear k_proj;        // (F, D)
    private readonly BitLinear v_proj;        // (F, D)
    private readonly ShortConv? q_conv;       // (F, K), null when K = 0
    private readonly ShortConv? k_conv;       // (F, K)
    private readonly ShortConv? v_conv;       // (F, K)
    private readonly Linear beta_proj;        // (H, D) + (H), full precision
    private readonly BitLinear o_proj;        // (D, F)
    private readonly int heads, headDim, kernel, chunk;
    private readonly double innerLr;

    /// <summary>
    /// A sequence of at most this many tokens that starts from a zero state (every training window of up to 128
    /// tokens) runs as one block of the chunk form, whatever <c>ttt_chunk</c> says: from S = 0 one block needs no
    /// chunk loop and no W (<see cref="OneBlockFromZero"/>). Longer ones, and any that continue a state, use blocks of <c>ttt_chunk</c>, whose (Tc, Tc)
    /// products stay small. The function is the same either way (docs/model.md §3b).
    /// </summary>
    public const int OneBlockTokens = 128;

    public DeltaTttLayer(string name, BitLlamaConfig config) : base(name)
    {
        config.Validate();
        heads = config.TttHeads;
        headDim = config.TttHeadDim;
        kernel = config.TttConv;
        chunk = config.TttChunk;
        innerLr = config.InnerLr;
        long dim = config.HiddenDim, inner = config.TttInnerDim;
        q_proj = new BitLinear(nameof(q_proj), dim, inner);
        k_proj = new BitLinear(nameof(k_proj), dim, inner);
        v_proj = new BitLinear(nameof(v_proj), dim, inner);
        if (kernel > 0)
        {
            q_conv = new ShortConv(nameof(q_conv), inner, kernel);
            k_conv = new ShortConv(nameof(k_conv), inner, kernel);
            v_conv = new ShortConv(nameof(v_conv), inner, kernel);
        }
        beta_proj = nn.Linear(dim, heads, hasBias: true);
        using (no_grad()) beta_proj.bias!.zero_();
        o_proj = new BitLinear(nameof(o_proj), inner, dim);
        RegisterComponents();
    }

    /// <summary>(B, T, D) -> (B, T, D); continues from <paramref name="state"/> (zero when null) and returns the state after the last token.</summary>
    /// <remarks>
    /// At the QuickStart shape every TorchSharp op costs more in call, allocation, autograd and thread
    /// wake-up overhead than in arithmetic, so the layer runs as few ops as the math allows (docs/benchmarks.md):
    /// one matmul for q, k, v; one grouped convolution for the three; one copy into the chunk layout
    /// (3, B, H, Nc, Tc, dh) where q and k are normalized together; the skip is added in that layout.
    /// The unfused composition of docs/model.md §3b is the reference of DeltaTttReferenceTests.
    /// </remarks>
    public override (Tensor Output, TttLayerState State) Forward(Tensor a, TttLayerState? state)
    {
        var (output, next) = Run(a, ExpectState<DeltaTttState>(state), wantState: true);
        return (output, next!);
    }

    /// <summary>(B, T, D) -> (B, T, D) from a zero state, without computing the state after the last token (training).</summary>
    public override Tensor forward(Tensor a) => Run(a, null, wantState: false).Output;

    (Tensor Output, DeltaTttState? State) Run(Tensor a, DeltaTttState? previous, bool wantState)
    {
        using var scope = NewDisposeScope();
        long batch = a.shape[0], time = a.shape[1], inner = (long)heads * headDim;
        CheckState(previous, batch, inner);
        var x = BitLinear.ForwardConcat(a, q_proj, k_proj, v_proj);                       // (B, T, 3F): [xq | xk | xv]
        var (mixed, tail) = kernel > 0
            ? ShortConv.ApplyChannelsFirst(x, cat([q_conv!.Weight, k_conv!.Weight, v_conv!.Weight], 0), previous?.ConvTail)
            : (x.transpose(1, 2), zeros(batch, 0, 3 * inner, a.dtype, a.device));          // (B, 3F, T), (B, Kt, 3F)
        if (time == 0)
            return (zeros(batch, 0, a.shape[2], a.dtype, a.device).MoveToOuterDisposeScope(),
                (DeltaTttState)new DeltaTttState(previous?.S.alias() ?? zeros(batch, heads, headDim, headDim, a.dtype, a.device), tail).MoveToOuterDisposeScope());
        long c = previous is null && time <= OneBlockTokens ? time : Math.Min(chunk, time), n = (time + c - 1) / c, pad = n * c - time;
        if (pad > 0) mixed = nn.functional.pad(mixed, [0, pad]);                           // (B, 3F, Nc·Tc): padded rows are 0
        var blocks = mixed.reshape(batch, 3, heads, headDim, n, c).permute(1, 0, 2, 4, 5, 3).contiguous();   // (3, B, H, Nc, Tc, dh)
        var qk = blocks.narrow(0, 0, 2);                                                    // (2, B, H, Nc, Tc, dh)
        qk = qk / linalg.vector_norm(qk, 2, [-1L], keepdim: true).add(1e-6);               // per head; a zero pad row stays 0
        var v = blocks[2];                                                                  // (B, H, Nc, Tc, dh)
        var beta = nn.functional.sigmoid(beta_proj.forward(a)).mul(innerLr).transpose(1, 2); // (B, H, T)
        var (o, s) = ChunkBlocks(qk[0], qk[1], v, BetaBlocks(beta, n, c), previous?.S, wantState);   // (B, H, Nc, Tc, dh), (B, H, dh, dh)
        var merged = (o + v).reshape(batch, heads, n * c, headDim).narrow(2, 0, time)
            .transpose(1, 2).reshape(batch, time, inner);                                   // (B, T, F): concat_h(o) + v
        var output = o_proj.forward(merged);                                                // (B, T, D)
        return (output.MoveToOuterDisposeScope(), wantState ? (DeltaTttState)new DeltaTttState(s!, tail).MoveToOuterDisposeScope() : null);
    }

    void CheckState(DeltaTttState? state, long batch, long inner)
    {
        if (state is null) return;
        long[] s = [batch, heads, headDim, headDim], tail = [batch, Math.Max(kernel - 1, 0), 3 * inner];
        if (!state.S.shape.SequenceEqual(s) || !state.ConvTail.shape.SequenceEqual(tail))
            throw new ArgumentException(
                $"delta TTT state S/ConvTail must have shapes [{string.Join(", ", s)}] and [{string.Join(", ", tail)}] for this input, " +
                $"found [{string.Join(", ", state.S.shape)}] and [{string.Join(", ", state.ConvTail.shape)}]", nameof(state));
    }

    // The chunk-wise (WY/UT) form of the delta rule, for the update-then-read order of docs/model.md §3b.
    //
    // Per head, with S·k reading and S₀ the state before a chunk of Tc tokens (rows k_t, v_t, q_t, β_t):
    //   S_t = S_{t-1} − β_t (S_{t-1} k_t − v_t) k_tᵀ.
    // Write the state as S_t = S₀ + Σ_{r≤t} u_r k_rᵀ. Then u_t = β_t (v_t − S_{t-1} k_t)
    //   = β_t v_t − β_t S₀ k_t − Σ_{r<t} β_t (k_t·k_r) u_r,
    // i.e. with row matrices U, K, V, Q (Tc × dh) and A = strict_tril(diag(β) K Kᵀ):
    //   (I + A) U = diag(β) V − diag(β) K S₀ᵀ.
    // I + A is unit lower triangular, so T = (I + A)⁻¹ exists; with W = T·diag(β)K and U₀ = T·diag(β)V
    // (one triangular solve, independent of S₀):
    //   U   = U₀ − W S₀ᵀ
    //   O   = Q S₀ᵀ + tril(Q Kᵀ) U        (o_t = S_t q_t: the diagonal is included, update before read)
    //   S_C = S₀ + Uᵀ K
    // Substituting U, with P = tril(Q Kᵀ):
    //   O   = (Q − P W) S₀ᵀ + P U₀
    //   S_C = S₀ (I − Wᵀ K) + U₀ᵀ K
    // Everything but S₀ is known for every chunk at once, so all chunks are computed together (batched
    // matmuls) and only S_{n+1} = S_n M_n + G_n, M = I − Wᵀ K, G = U₀ᵀ K, runs chunk after chunk: one
    // fused matmul-add per chunk. A short last chunk is padded with k = v = q = 0, β = 0: its rows of
    // A, W and U₀ are zero, so it changes neither the outputs nor S.

    /// <summary>
    /// The delta rule over normalized q, k (B, H, T, dh), values v (B, H, T, dh) and rates β (B, H, T),
    /// from <paramref name="s0"/> (B, H, dh, dh; zero when null), in blocks of <paramref name="chunk"/>
    /// tokens. Returns the outputs <c>o_t = S_t q_t</c> (B, H, T, dh) and the final S. Equal to the token
    /// loop for every chunk size (see the derivation above).
    /// </summary>
    internal static (Tensor O, Tensor S) ChunkForm(Tensor q, Tensor k, Tensor v, Tensor beta, Tensor? s0, int chunk)
    {
        if (chunk <= 0) throw new ArgumentException($"ttt_chunk must be positive, got {chunk}", nameof(chunk));
        using var scope = NewDisposeScope();
        long batch = q.shape[0], heads = q.shape[1], time = q.shape[2], dh = q.shape[3];
        if (time == 0)
            return (zeros(batch, heads, 0, dh, q.dtype, q.device).MoveToOuterDisposeScope(),
                (s0 is null ? zeros(batch, heads, dh, dh, q.dtype, q.device) : s0.alias()).MoveToOuterDisposeScope());
        long c = Math.Min(chunk, time), n = (time + c - 1) / c, pad = n * c - time;
        Tensor Blocks(Tensor x) => (pad > 0 ? nn.functional.pad(x, [0, 0, 0, pad]) : x).reshape(batch, heads, n, c, dh);   // (B, H, Nc, Tc, dh)
        var (o, s) = ChunkBlocks(Blocks(q), Blocks(k), Blocks(v), BetaBlocks(beta, n, c), s0, wantState: true);
        o = o.reshape(batch, heads, n * c, dh);                                             // (B, H, Nc·Tc, dh)
        if (pad > 0) o = o.narrow(2, 0, time);
        return (o.MoveToOuterDisposeScope(), s!.MoveToOuterDisposeScope());
    }

    static Tensor BetaBlocks(Tensor beta, long n, long c)                                   // (B, H, T) -> (B, H, Nc, Tc, 1), padded with β = 0
    {
        long pad = n * c - beta.shape[2];
        return (pad > 0 ? nn.functional.pad(beta, [0, pad]) : beta).reshape(beta.shape[0], beta.shape[1], n, c, 1);
    }

    // The derivation above on blocks: q, k, v (B, H, Nc, Tc, dh), b (B, H, Nc, Tc, 1). Pairs of products that share
    // a factor run as one matmul on concatenated operands ([W | U₀] = T·diag(β)[K | V], P·[W | U₀],
    // [W | U₀]ᵀK), since at small sizes the number of ops, not their flops, sets the time.
    static (Tensor O, Tensor? S) ChunkBlocks(Tensor q, Tensor k, Tensor v, Tensor b, Tensor? s0, bool wantState)
    {
        if (q.shape[2] == 1 && s0 is null) return OneBlockFromZero(q, k, v, b, wantState);
        using var scope = NewDisposeScope();
        long batch = q.shape[0], heads = q.shape[1], n = q.shape[2], c = q.shape[3], dh = q.shape[4];
        var kt = k.transpose(-1, -2);                                                       // (B, H, Nc, dh, Tc)
        var rhs = cat([k, v], -1) * b;                                                      // (B, H, Nc, Tc, 2dh): diag(β)[K | V]
        var a = rhs.narrow(-1, 0, dh).matmul(kt).tril(-1);                                  // (B, H, Nc, Tc, Tc)
        var x = linalg.solve_triangular(a, rhs, upper: false, left: true, unitriangular: true);   // (B, H, Nc, Tc, 2dh): [W | U₀]
        var p = q.matmul(kt).tril(0);                                                       // (B, H, Nc, Tc, Tc)
        var px = p.matmul(x);                                                               // (B, H, Nc, Tc, 2dh): [P W | P U₀]
        var qw = q - px.narrow(-1, 0, dh);                                                  // (B, H, Nc, Tc, dh): Q − P W
        var xk = x.transpose(-1, -2).matmul(k);                                             // (B, H, Nc, 2dh, dh): [Wᵀ K ; U₀ᵀ K]
        var m = eye(dh, dtype: q.dtype, device: q.device) - xk.narrow(-2, 0, dh);          // (B, H, Nc, dh, dh): I − Wᵀ K
        var g = xk.narrow(-2, dh, dh);                                                      // (B, H, Nc, dh, dh): U₀ᵀ K

        // The chunk-start states S_0 .. S_{Nc-1}, then the state after the last chunk, as (B·H, dh, dh).
        var ms = m.reshape(batch * heads, n, dh, dh).unbind(1);
        var gs = g.reshape(batch * heads, n, dh, dh).unbind(1);
        var starts = new Tensor[n];
        var s = s0?.reshape(batch * heads, dh, dh);
        for (long i = 0; i < n; i++)
        {
            starts[i] = s ?? zeros(batch * heads, dh, dh, q.dtype, q.device);
            s = s is null ? gs[i] : s.matmul(ms[i]) + gs[i];                                 // S M + G
        }
        var sn = (n == 1 ? starts[0].unsqueeze(1) : stack(starts, 1)).reshape(batch, heads, n, dh, dh);   // (B, H, Nc, dh, dh)
        var o = qw.matmul(sn.transpose(-1, -2)) + px.narrow(-1, dh, dh);                   // (B, H, Nc, Tc, dh): (Q − P W) S₀ᵀ + P U₀
        return (o.MoveToOuterDisposeScope(), s!.reshape(batch, heads, dh, dh).MoveToOuterDisposeScope());
    }

    // One block from S₀ = 0 (a training window that fits one block): every S₀ term vanishes, so W is not needed and
    // O = P U₀, S_C = U₀ᵀ K, with U₀ from one triangular solve: five batched ops instead of the chunk loop.
    static (Tensor O, Tensor? S) OneBlockFromZero(Tensor q, Tensor k, Tensor v, Tensor b, bool wantState)
    {
        using var scope = NewDisposeScope();
        long batch = q.shape[0], heads = q.shape[1], dh = q.shape[4];
        var kt = k.transpose(-1, -2);                                                       // (B, H, 1, dh, Tc)
        var a = (k * b).matmul(kt).tril(-1);                                                // (B, H, 1, Tc, Tc): strict_tril(diag(β) K Kᵀ)
        var p = q.matmul(kt).tril(0);                                                       // (B, H, 1, Tc, Tc): tril(Q Kᵀ)
        var u0 = linalg.solve_triangular(a, v * b, upper: false, left: true, unitriangular: true);   // (B, H, 1, Tc, dh): U₀
        var o = p.matmul(u0);                                                               // (B, H, 1, Tc, dh): P U₀
        var s = wantState ? u0.transpose(-1, -2).matmul(k).reshape(batch, heads, dh, dh) : null;   // (B, H, dh, dh): U₀ᵀ K
        return (o.MoveToOuterDisposeScope(), s?.MoveToOuterDisposeScope());
    }
}

/// <summary>
/// A short causal depthwise convolution (docs/model.md §3b): channel c at position t is
/// <c>Σ_j weight[c, j] · x_{t−K+1+j}[c]</c>, x before position 0 being 0 or the carried tail.
/// </summary>
public sealed class ShortConv : nn.Module
{
    private readonly Parameter weight; // (F, K)

    public ShortConv(string name, long channels, int kernel) : base(name)
    {
        var w = zeros(channels, kernel);
        w.select(1, kernel - 1).fill_(1);   // identity: the layer starts as if there were no convolution
        weight = nn.Parameter(w);
        RegisterComponents();
    }

    internal Tensor Weight => weight;

    /// <summary>
    /// x (B, T, F) with weight (F, K) and the last Kt = K−1 rows before x (B, Kt, F; zeros when null) ->
    /// (the convolution (B, T, F), the last K−1 rows of <c>[tail; x]</c> for the next call).
    /// </summary>
    internal static (Tensor Y, Tensor Tail) Apply(Tensor x, Tensor weight, Tensor? tail)
    {
        var (y, next) = ApplyChannelsFirst(x, weight, tail);
        return (y.transpose(1, 2), next);
    }

    /// <summary>As <see cref="Apply"/>, with the convolution returned channels first (B, F, T): one grouped conv1d.</summary>
    internal static (Tensor Y, Tensor Tail) ApplyChannelsFirst(Tensor x, Tensor weight, Tensor? tail)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0], time = x.shape[1], channels = x.shape[2], kernel = weight.shape[1];
        tail ??= zeros(batch, kernel - 1, channels, x.dtype, x.device);
        if (time == 0) return (zeros(batch, channels, 0, x.dtype, x.device).MoveToOuterDisposeScope(), tail.alias().MoveToOuterDisposeScope());
        var padded = cat([tail, x], 1);                                                     // (B, Kt + T, F)
        // conv1d is a cross-correlation: y[c, t] = Σ_j weight[c, 0, j] · padded[c, t + j], the sum above.
        var y = nn.functional.conv1d(padded.transpose(1, 2), weight.unsqueeze(1), groups: channels);   // (B, F, T)
        var next = padded.narrow(1, time, kernel - 1);                                      // (B, Kt, F)
        return (y.MoveToOuterDisposeScope(), next.MoveToOuterDisposeScope());
    }
}
