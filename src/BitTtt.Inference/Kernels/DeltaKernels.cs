using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BitTtt.Inference.Kernels;

/// <summary>
/// The per-token pieces of the delta-rule TTT layer (docs/model.md §3b) that run once per head or channel:
/// the causal depthwise convolution, the L2 normalization and the fused update-then-read of one head's
/// state S. Each fast kernel has a scalar reference twin with the same signature; the two agree to float
/// rounding (different summation order), and tests run both on odd sizes.
/// Shape key: F = H·dh channels, dh = head width, K = conv kernel.
/// </summary>
public static class DeltaKernels
{
    /// <summary>
    /// One head, one token: for each row r of S, e_r = S_r·k − v_r; S_r −= β e_r kᵀ; o_r = S_r·q (the
    /// updated row). Row r's update needs only row r, so update and read fuse into one pass over S and
    /// each row is read from L1 twice instead of S being streamed three times.
    /// S: (dh, dh) row-major; k, v, q, o: (dh).
    /// </summary>
    public static void UpdateAndRead(Span<float> s, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> q, float beta, Span<float> o)
    {
        int dh = CheckShapes(s, k, v, q, o);
        if (!Vector.IsHardwareAccelerated || dh < Vector<float>.Count)
        {
            UpdateAndReadReference(s, k, v, q, beta, o);
            return;
        }
        for (int r = 0; r < dh; r++)
        {
            var row = s.Slice(r * dh, dh);
            float e = Dot(row, k) - v[r];
            o[r] = AxpyThenDot(row, -beta * e, k, q);
        }
    }

    /// <summary>The specification of <see cref="UpdateAndRead"/>: plain loops, float accumulation left to right.</summary>
    public static void UpdateAndReadReference(Span<float> s, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> q, float beta, Span<float> o)
    {
        int dh = CheckShapes(s, k, v, q, o);
        for (int r = 0; r < dh; r++)
        {
            float sk = 0;
            for (int j = 0; j < dh; j++) sk += s[r * dh + j] * k[j];
            float c = -beta * (sk - v[r]);
            float sq = 0;
            for (int j = 0; j < dh; j++)
            {
                s[r * dh + j] += c * k[j];
                sq += s[r * dh + j] * q[j];
            }
            o[r] = sq;
        }
    }

    /// <summary>Σ x_j y_j with <see cref="Vector{T}"/> lanes and a scalar tail (x.Length ≥ one vector).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref float ys = ref MemoryMarshal.GetReference(y);
        int n = x.Length, w = Vector<float>.Count, j = 0;
        var acc = Vector<float>.Zero;
        for (; j <= n - w; j += w)
            acc += Vector.LoadUnsafe(ref xs, (nuint)j) * Vector.LoadUnsafe(ref ys, (nuint)j);
        float sum = Vector.Sum(acc);
        for (; j < n; j++) sum += Unsafe.Add(ref xs, j) * Unsafe.Add(ref ys, j);
        return sum;
    }

    /// <summary>row += c·k, then returns row·q (the updated row), in one pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float AxpyThenDot(Span<float> row, float c, ReadOnlySpan<float> k, ReadOnlySpan<float> q)
    {
        ref float rs = ref MemoryMarshal.GetReference(row);
        ref float ks = ref MemoryMarshal.GetReference(k);
        ref float qs = ref MemoryMarshal.GetReference(q);
        int n = row.Length, w = Vector<float>.Count, j = 0;
        var cv = new Vector<float>(c);
        var acc = Vector<float>.Zero;
        for (; j <= n - w; j += w)
        {
            var updated = Vector.LoadUnsafe(ref rs, (nuint)j) + cv * Vector.LoadUnsafe(ref ks, (nuint)j);
            updated.StoreUnsafe(ref rs, (nuint)j);
            acc += updated * Vector.LoadUnsafe(ref qs, (nuint)j);
        }
        float sum = Vector.Sum(acc);
        for (; j < n; j++)
        {
            float u = Unsafe.Add(ref rs, j) + c * Unsafe.Add(ref ks, j);
            Unsafe.Add(ref rs, j) = u;
            sum += u * Unsafe.Add(ref qs, j);
        }
        return sum;
    }

    /// <summary>
    /// Causal depthwise convolution of one token: y[c] = Σ_j wT[j, c] · window[j, c], j = 0..K−1, where
    /// window holds the K pre-convolution rows ending at the current token (oldest first) and wT is the
    /// (F, K) conv weight transposed to (K, F) so each tap is one vector pass over the channels.
    /// window: (K, F); wT: (K, F); y: (F). K = 0 is not a convolution: the caller copies x instead.
    /// </summary>
    public static void CausalConv(ReadOnlySpan<float> window, ReadOnlySpan<float> wT, int taps, Span<float> y)
    {
        int f = CheckConv(window, wT, taps, y);
        TensorPrimitives.Multiply(window[..f], wT[..f], y);
        for (int j = 1; j < taps; j++)
            TensorPrimitives.MultiplyAdd(window.Slice(j * f, f), wT.Slice(j * f, f), y, y);
    }

    /// <summary>The specification of <see cref="CausalConv"/>, channel by channel.</summary>
    public static void CausalConvReference(ReadOnlySpan<float> window, ReadOnlySpan<float> wT, int taps, Span<float> y)
    {
        int f = CheckConv(window, wT, taps, y);
        for (int c = 0; c < f; c++)
        {
            float acc = 0;
            for (int j = 0; j < taps; j++) acc += wT[j * f + c] * window[j * f + c];
            y[c] = acc;
        }
    }

    /// <summary>x /= (‖x‖₂ + 1e-6), in place (docs/model.md §3b's q and k per head).</summary>
    public static void L2Normalize(Span<float> x) =>
        TensorPrimitives.Divide(x, MathF.Sqrt(TensorPrimitives.SumOfSquares(x)) + 1e-6f, x);

    static int CheckShapes(ReadOnlySpan<float> s, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> q, ReadOnlySpan<float> o)
    {
        int dh = k.Length;
        if (s.Length != dh * dh || v.Length != dh || q.Length != dh || o.Length != dh)
            throw new ArgumentException($"delta head of width {dh} needs S of {dh * dh} values and v, q, o of {dh}; got S {s.Length}, v {v.Length}, q {q.Length}, o {o.Length}");
        return dh;
    }

    static int CheckConv(ReadOnlySpan<float> window, ReadOnlySpan<float> wT, int taps, ReadOnlySpan<float> y)
    {
        int f = y.Length;
        if (taps <= 0 || window.Length != taps * f || wT.Length != taps * f)
            throw new ArgumentException($"a {taps}-tap convolution over {f} channels needs window and weights of {taps * f} values; got {window.Length} and {wT.Length}");
        return f;
    }
}
