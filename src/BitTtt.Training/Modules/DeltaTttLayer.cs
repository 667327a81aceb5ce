using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BitTtt.Training;

// Shape key: B = batch, T = time, D = hidden, H = heads, dh = head width, F = H·dh, K = conv kernel,
// C = chunk (block) size, N = chunks of one call.

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
    public override (Tensor Output, TttLayerState State) Forward(Tensor a, TttLayerState? state)
    {
        using var scope = NewDisposeScope();
        var previous = ExpectState<DeltaTttState>(state);
        long batch = a.shape[0], time = a.shape[1], inner = (long)heads * headDim;
        CheckState(previous, batch, inner);
        var x = BitLinear.ForwardConcat(a, q_proj, k_proj, v_proj);                       // (B, T, 3F): [xq | xk | xv]
        var (mixed, tail) = kernel > 0
            ? ShortConv.Apply(x, cat([q_conv!.Weight, k_conv!.Weight, v_conv!.Weight], 0), previous?.ConvTail)
            : (x, zeros(batch, 0, 3 * inner, a.dtype, a.device));                         // (B, T, 3F), (B, K-1, 3F)
        var v = mixed.narrow(2, 2 * inner, inner);                                          // (B, T, F)
        var q = Heads(mixed.narrow(2, 0, inner), batch, time);                              // (B, H, T, dh)
        var k = Heads(mixed.narrow(2, inner, inner), batch, time);                          // (B, H, T, dh)
        q = q / q.pow(2).sum([-1], keepdim: true).sqrt().add(1e-6);
        k = k / k.pow(2).sum([-1], keepdim: true).sqrt().add(1e-6);
        var beta = nn.functional.sigmoid(beta_proj.forward(a)).mul(innerLr).transpose(1, 2); // (B, H, T)
        var (o, s) = ChunkForm(q, k, Heads(v, batch, time), beta, previous?.S, chunk);      // (B, H, T, dh), (B, H, dh, dh)
        var merged = o.transpose(1, 2).reshape(batch, time, inner);                         // (B, T, F)
        var output = o_proj.forward(merged + v);                                            // (B, T, D)
        return (output.MoveToOuterDisposeScope(), new DeltaTttState(s, tail).MoveToOuterDisposeScope());
    }

    Tensor Heads(Tensor x, long batch, long time) =>                                        // (B, T, F) -> (B, H, T, dh)
        x.reshape(batch, time, heads, headDim).transpose(1, 2);

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
    // Per head, with S·k reading and S₀ the state before a chunk of C tokens (rows k_t, v_t, q_t, β_t):
    //   S_t = S_{t-1} − β_t (S_{t-1} k_t − v_t) k_tᵀ.
    // Write the state as S_t = S₀ + Σ_{r≤t} u_r k_rᵀ. Then u_t = β_t (v_t − S_{t-1} k_t)
    //   = β_t v_t − β_t S₀ k_t − Σ_{r<t} β_t (k_t·k_r) u_r,
    // i.e. with row matrices U, K, V, Q (C × dh) and A = strict_tril(diag(β) K Kᵀ):
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
        if (pad > 0)
        {
            q = nn.functional.pad(q, [0, 0, 0, pad]);
            k = nn.functional.pad(k, [0, 0, 0, pad]);
            v = nn.functional.pad(v, [0, 0, 0, pad]);
            beta = nn.functional.pad(beta, [0, pad]);
        }
        q = q.reshape(batch, heads, n, c, dh);                                              // (B, H, N, C, dh)
        k = k.reshape(batch, heads, n, c, dh);
        v = v.reshape(batch, heads, n, c, dh);
        var b = beta.reshape(batch, heads, n, c, 1);                                        // (B, H, N, C, 1)
        var kt = k.transpose(-1, -2);                                                       // (B, H, N, dh, C)
        var kb = k * b;                                                                     // diag(β) K
        var a = kb.matmul(kt).tril(-1);                                                     // (B, H, N, C, C)
        var x = linalg.solve_triangular(a, cat([kb, v * b], -1), upper: false, left: true, unitriangular: true);
        var w = x.narrow(-1, 0, dh);                                                        // (B, H, N, C, dh): T·diag(β)K
        var u0 = x.narrow(-1, dh, dh);                                                      // (B, H, N, C, dh): T·diag(β)V
        var p = q.matmul(kt).tril(0);                                                       // (B, H, N, C, C)
        var qw = q - p.matmul(w);                                                           // (B, H, N, C, dh): Q − P W
        var pu = p.matmul(u0);                                                              // (B, H, N, C, dh): P U₀
        var m = eye(dh, dtype: q.dtype, device: q.device) - w.transpose(-1, -2).matmul(k); // (B, H, N, dh, dh): I − Wᵀ K
        var g = u0.transpose(-1, -2).matmul(k);                                             // (B, H, N, dh, dh): U₀ᵀ K

        // The chunk-start states S_0 .. S_{N-1}, then the state after the last chunk, as (B·H, dh, dh).
        var ms = m.reshape(batch * heads, n, dh, dh).unbind(1);
        var gs = g.reshape(batch * heads, n, dh, dh).unbind(1);
        var starts = new Tensor[n];
        var s = s0?.reshape(batch * heads, dh, dh);
        for (long i = 0; i < n; i++)
        {
            starts[i] = s ?? zeros(batch * heads, dh, dh, q.dtype, q.device);
            s = s is null ? gs[i] : s.matmul(ms[i]) + gs[i];                                 // S M + G
        }
        var sn = (n == 1 ? starts[0].unsqueeze(1) : stack(starts, 1)).reshape(batch, heads, n, dh, dh);   // (B, H, N, dh, dh)
        var o = qw.matmul(sn.transpose(-1, -2)) + pu;                                       // (B, H, N, C, dh)
        o = o.reshape(batch, heads, n * c, dh);                                             // (B, H, N·C, dh)
        if (pad > 0) o = o.narrow(2, 0, time);
        return (o.MoveToOuterDisposeScope(), s!.reshape(batch, heads, dh, dh).MoveToOuterDisposeScope());
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
    /// x (B, T, F) with weight (F, K) and the last K−1 rows before x (B, K−1, F; zeros when null) ->
    /// (the convolution (B, T, F), the last K−1 rows of <c>[tail; x]</c> for the next call).
    /// </summary>
    internal static (Tensor Y, Tensor Tail) Apply(Tensor x, Tensor weight, Tensor? tail)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0], time = x.shape[1], channels = x.shape[2], kernel = weight.shape[1];
        tail ??= zeros(batch, kernel - 1, channels, x.dtype, x.device);
        var padded = cat([tail, x], 1);                                                     // (B, T + K - 1, F)
        var y = padded.narrow(1, 0, time) * weight.select(1, 0);                            // (B, T, F)
        for (long j = 1; j < kernel; j++)
            y = y + padded.narrow(1, j, time) * weight.select(1, j);
        var next = padded.narrow(1, time, kernel - 1);                                      // (B, K - 1, F)
        return (y.MoveToOuterDisposeScope(), next.MoveToOuterDisposeScope());
    }
}
