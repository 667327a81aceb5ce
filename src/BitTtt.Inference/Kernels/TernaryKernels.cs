using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BitTtt.Inference.Kernels;

/// <summary>
/// Integer dot products of packed ternary rows (layout in <see cref="PackedTernaryMatrix"/>) with int8
/// activations, and the GEMV / small-batch GEMM built on them. Every SIMD path has the scalar
/// <see cref="DotCodesReference"/> as its twin and must return exactly the same integer.
/// Dispatch: Avx512BW → Avx2 → Vector128 (any ISA, incl. Arm) → reference.
/// Overflow bounds: a code is ≤ 2 and |x| ≤ 128, so an int16 lane of vpmaddubsw holds at most
/// 2·2·128 = 512; the kernels add 4 such lanes (≤ 2048) before widening to int32.
/// </summary>
public static class TernaryKernels
{
    /// <summary>
    /// Below this many multiply-adds a GEMM over several tokens stays on the calling thread: a fork/join
    /// costs microseconds. 2¹⁹ lets the TTT projections of a 32-token prompt batch (64×256 and 256×64
    /// padded to 256×128: 0.5 M and 1 M) split too — measured 13 → 10 µs and 58 → 34–43 µs on 2 cores.
    /// </summary>
    public const long ParallelThreshold = 1L << 19;

    /// <summary>
    /// A single-token GEMV (decode) splits only above this: <c>Parallel.For</c> allocates, and below it a
    /// decode step allocates nothing (the default model's largest GEMV is 0.26 M, a D = 512 model's 1 M).
    /// </summary>
    public const long GemvParallelThreshold = 1L << 22;

    /// <summary>Σ code_i · x_i over one padded row (codes unsigned, 0..2). Lengths: row = Cp/4 bytes, x = Cp.</summary>
    public static int DotCodes(ReadOnlySpan<byte> row, ReadOnlySpan<sbyte> x)
    {
        CheckLengths(row, x);
        if (Avx512BW.IsSupported) return DotCodesAvx512(row, x);
        if (Avx2.IsSupported) return DotCodesAvx2(row, x);
        if (Vector128.IsHardwareAccelerated) return DotCodesVector128(row, x);
        return DotCodesReference(row, x);
    }

    /// <summary>The specification: unpack each 2-bit code as the layout says and multiply.</summary>
    public static int DotCodesReference(ReadOnlySpan<byte> row, ReadOnlySpan<sbyte> x)
    {
        CheckLengths(row, x);
        int acc = 0;
        for (int block = 0; block < row.Length / PackedTernaryMatrix.BlockBytes; block++)
            for (int k = 0; k < 4; k++)
                for (int j = 0; j < PackedTernaryMatrix.BlockBytes; j++)
                {
                    int code = (row[block * PackedTernaryMatrix.BlockBytes + j] >> (2 * k)) & 3;
                    acc += code * x[block * PackedTernaryMatrix.BlockSize + k * PackedTernaryMatrix.BlockBytes + j];
                }
        return acc;
    }

    /// <summary>Two blocks per 512-bit load; an odd last block goes through the 256-bit step.</summary>
    internal static int DotCodesAvx512(ReadOnlySpan<byte> row, ReadOnlySpan<sbyte> x)
    {
        CheckLengths(row, x);
        ref byte w = ref MemoryMarshal.GetReference(row);
        ref sbyte xs = ref MemoryMarshal.GetReference(x);
        int blocks = row.Length / PackedTernaryMatrix.BlockBytes, b = 0;
        var mask = Vector512.Create((byte)3);
        var ones = Vector512.Create((short)1);
        var acc = Vector512<int>.Zero;
        for (; b + 2 <= blocks; b += 2)
        {
            var packed = Vector512.LoadUnsafe(ref w, (nuint)(b * 32));
            var x0 = b * 128;
            var sum16 = Vector512<short>.Zero;
            for (int k = 0; k < 4; k++)
            {
                var codes = Vector512.ShiftRightLogical(packed.AsUInt16(), 2 * k).AsByte() & mask;
                var xv = Vector512.Create(Vector256.LoadUnsafe(ref xs, (nuint)(x0 + 32 * k)), Vector256.LoadUnsafe(ref xs, (nuint)(x0 + 128 + 32 * k)));
                sum16 += Avx512BW.MultiplyAddAdjacent(codes, xv);
            }
            acc += Avx512BW.MultiplyAddAdjacent(sum16, ones);
        }
        int total = Vector512.Sum(acc);
        if (b < blocks) total += DotBlockAvx2(ref w, ref xs, b);
        return total;
    }

    internal static int DotCodesAvx2(ReadOnlySpan<byte> row, ReadOnlySpan<sbyte> x)
    {
        CheckLengths(row, x);
        ref byte w = ref MemoryMarshal.GetReference(row);
        ref sbyte xs = ref MemoryMarshal.GetReference(x);
        int total = 0;
        for (int b = 0; b < row.Length / PackedTernaryMatrix.BlockBytes; b++) total += DotBlockAvx2(ref w, ref xs, b);
        return total;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int DotBlockAvx2(ref byte w, ref sbyte xs, int b)
    {
        var packed = Vector256.LoadUnsafe(ref w, (nuint)(b * 32));
        var mask = Vector256.Create((byte)3);
        var sum16 = Vector256<short>.Zero;
        for (int k = 0; k < 4; k++)
        {
            var codes = Vector256.ShiftRightLogical(packed.AsUInt16(), 2 * k).AsByte() & mask;
            sum16 += Avx2.MultiplyAddAdjacent(codes, Vector256.LoadUnsafe(ref xs, (nuint)(b * 128 + 32 * k)));
        }
        return Vector256.Sum(Avx2.MultiplyAddAdjacent(sum16, Vector256.Create((short)1)));
    }

    /// <summary>Portable path (Arm AdvSimd, SSE): widen to int16, multiply, widen the sums to int32.</summary>
    internal static int DotCodesVector128(ReadOnlySpan<byte> row, ReadOnlySpan<sbyte> x)
    {
        CheckLengths(row, x);
        ref byte w = ref MemoryMarshal.GetReference(row);
        ref sbyte xs = ref MemoryMarshal.GetReference(x);
        var mask = Vector128.Create((byte)3);
        var acc = Vector128<int>.Zero;
        for (int b = 0; b < row.Length / PackedTernaryMatrix.BlockBytes; b++)
            for (int half = 0; half < 2; half++)
            {
                var packed = Vector128.LoadUnsafe(ref w, (nuint)(b * 32 + 16 * half));
                var sum16 = Vector128<short>.Zero;
                for (int k = 0; k < 4; k++)
                {
                    var (cLo, cHi) = Vector128.Widen(Vector128.ShiftRightLogical(packed, 2 * k) & mask);
                    var (xLo, xHi) = Vector128.Widen(Vector128.LoadUnsafe(ref xs, (nuint)(b * 128 + 32 * k + 16 * half)));
                    sum16 += cLo.AsInt16() * xLo + cHi.AsInt16() * xHi;
                }
                var (lo, hi) = Vector128.Widen(sum16);
                acc += lo + hi;
            }
        return Vector128.Sum(acc);
    }

    /// <summary>Exact integer outputs Σ Wq·xq for token <paramref name="t"/>: (R) int32.</summary>
    public static void GemvInt(PackedTernaryMatrix w, Int8Activations x, int t, Span<int> y)
    {
        CheckShapes(w, x, t, y.Length, 1);
        int sum = x.Sum(t);
        var xr = x.Row(t);
        for (int r = 0; r < w.Rows; r++) y[r] = DotCodes(w.Row(r), xr) - sum;
    }

    /// <summary>y = (xq · Wqᵀ) / (a·s) for all <c>x.Count</c> tokens: (T, Cp) int8 → (T, R) float, row-major by token.</summary>
    public static void Gemm(PackedTernaryMatrix w, Int8Activations x, Span<float> y)
    {
        int tokens = x.Count;
        CheckShapes(w, x, tokens - 1, y.Length / Math.Max(tokens, 1), tokens);
        if (tokens == 0 || w.Rows == 0) return;
        long work = (long)w.Rows * w.PaddedCols * tokens;
        if (work < (tokens == 1 ? GemvParallelThreshold : ParallelThreshold) || Environment.ProcessorCount == 1)
        {
            GemmRows(w, x, y, 0, w.Rows);
            return;
        }
        GemmParallel(w, x, y);
    }

    // Separate method: the lambda's closure would otherwise be allocated on every call, even single-threaded ones.
    static unsafe void GemmParallel(PackedTernaryMatrix w, Int8Activations x, Span<float> y)
    {
        int parts = Math.Min(Environment.ProcessorCount, w.Rows);
        fixed (float* py = y)
        {
            nint address = (nint)py;
            int length = y.Length;
            Parallel.For(0, parts, p =>
            {
                var span = new Span<float>((void*)address, length);
                GemmRows(w, x, span, (int)((long)w.Rows * p / parts), (int)((long)w.Rows * (p + 1) / parts));
            });
        }
    }

    /// <summary>Rows [rowStart, rowEnd) of <see cref="Gemm"/> on the calling thread; each row's integers do not depend on the split.</summary>
    internal static void GemmRows(PackedTernaryMatrix w, Int8Activations x, Span<float> y, int rowStart, int rowEnd)
    {
        if (Avx512BW.IsSupported)
        {
            GemmRowsAvx512(w, x, y, rowStart, rowEnd);
            return;
        }
        int tokens = x.Count;
        for (int r = rowStart; r < rowEnd; r++)
        {
            var row = w.Row(r);   // stays in L1 across the tokens
            for (int t = 0; t < tokens; t++)
                y[t * w.Rows + r] = (DotCodes(row, x.Row(t)) - x.Sum(t)) / (x.Scale(t) * w.Scale);
        }
    }

    /// <summary>
    /// Two rows at a time against every token: the two packed rows stay in L1 (for D = 256, in two
    /// registers) while the tokens stream past, and the row loop runs inside one method since for
    /// D = 256 a row is a single 512-bit step and per-row call overhead would dominate. Same integers as
    /// <see cref="DotCodesReference"/> and the same final scaling as the other paths, so decode (T = 1)
    /// and a batched prompt give identical floats.
    /// </summary>
    static void GemmRowsAvx512(PackedTernaryMatrix w, Int8Activations x, Span<float> y, int rowStart, int rowEnd)
    {
        int rowBytes = w.RowBytes, blocks = rowBytes / PackedTernaryMatrix.BlockBytes, tokens = x.Count, rows = w.Rows;
        ref byte data = ref MemoryMarshal.GetArrayDataReference(w.Data);
        int r = rowStart;
        for (; r + 2 <= rowEnd; r += 2)
        {
            ref byte w0 = ref Unsafe.Add(ref data, (nint)r * rowBytes);
            ref byte w1 = ref Unsafe.Add(ref w0, rowBytes);
            for (int t = 0; t < tokens; t++)
            {
                DotPairAvx512(ref w0, ref w1, ref MemoryMarshal.GetReference(x.Row(t)), blocks, out int d0, out int d1);
                float denom = x.Scale(t) * w.Scale;
                y[t * rows + r] = (d0 - x.Sum(t)) / denom;
                y[t * rows + r + 1] = (d1 - x.Sum(t)) / denom;
            }
        }
        if (r < rowEnd)
            for (int t = 0; t < tokens; t++)
                y[t * rows + r] = (DotCodesAvx512(w.Row(r), x.Row(t)) - x.Sum(t)) / (x.Scale(t) * w.Scale);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void DotPairAvx512(ref byte w0, ref byte w1, ref sbyte xs, int blocks, out int d0, out int d1)
    {
        var mask = Vector512.Create((byte)3);
        var ones = Vector512.Create((short)1);
        var acc0 = Vector512<int>.Zero;
        var acc1 = Vector512<int>.Zero;
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            var p0 = Vector512.LoadUnsafe(ref w0, (nuint)(b * 32)).AsUInt16();
            var p1 = Vector512.LoadUnsafe(ref w1, (nuint)(b * 32)).AsUInt16();
            var s0 = Vector512<short>.Zero;
            var s1 = Vector512<short>.Zero;
            for (int k = 0; k < 4; k++)
            {
                var xv = Vector512.Create(Vector256.LoadUnsafe(ref xs, (nuint)(b * 128 + 32 * k)), Vector256.LoadUnsafe(ref xs, (nuint)(b * 128 + 128 + 32 * k)));
                s0 += Avx512BW.MultiplyAddAdjacent(Vector512.ShiftRightLogical(p0, 2 * k).AsByte() & mask, xv);
                s1 += Avx512BW.MultiplyAddAdjacent(Vector512.ShiftRightLogical(p1, 2 * k).AsByte() & mask, xv);
            }
            acc0 += Avx512BW.MultiplyAddAdjacent(s0, ones);
            acc1 += Avx512BW.MultiplyAddAdjacent(s1, ones);
        }
        d0 = Vector512.Sum(acc0);
        d1 = Vector512.Sum(acc1);
        if (b < blocks)
        {
            d0 += DotBlockAvx2(ref w0, ref xs, b);
            d1 += DotBlockAvx2(ref w1, ref xs, b);
        }
    }

    static void CheckLengths(ReadOnlySpan<byte> row, ReadOnlySpan<sbyte> x)
    {
        if (row.Length % PackedTernaryMatrix.BlockBytes != 0 || x.Length != row.Length * 4)
            throw new ArgumentException($"packed row of {row.Length} bytes needs {row.Length * 4} activations (a multiple of {PackedTernaryMatrix.BlockSize}), got {x.Length}");
    }

    static void CheckShapes(PackedTernaryMatrix w, Int8Activations x, int lastToken, int yPerToken, int tokens)
    {
        if (x.Cols != w.Cols)
            throw new ArgumentException($"activations have {x.Cols} columns, the matrix expects {w.Cols}");
        if (tokens > 0 && (lastToken < 0 || lastToken >= x.Count))
            throw new ArgumentOutOfRangeException(nameof(x), $"token {lastToken} is outside the {x.Count} quantized rows");
        if (tokens > 0 && yPerToken < w.Rows)
            throw new ArgumentException($"output holds {yPerToken} values per token, the matrix has {w.Rows} rows");
    }
}
