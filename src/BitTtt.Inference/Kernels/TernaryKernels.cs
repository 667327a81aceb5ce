using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BitTtt.Formats;

namespace BitTtt.Inference.Kernels;

/// <summary>
/// The ternary × int8 GEMM: y = (xq · Wqᵀ) / (a·s) for every token of an <see cref="Int8Activations"/> batch
/// against a <see cref="PackedTernaryMatrix"/> (layout in <see cref="TernaryPacking"/>). Each 32-bit lane of a
/// code vector holds four columns of one row, so four broadcast activation bytes against a 64-byte tile give
/// 16 rows' partial dots in one multiply-add, without horizontal sums. Decode (one token), a batch of sessions'
/// tokens and a prompt chunk all go through it.
/// <para>Every path computes the same exact integers Σ code·x − Σ x, then the same float expression, so every path,
/// every split of the rows and every batch composition gives the same bits: a token's outputs do not depend on
/// the other tokens in the batch. <see cref="GemmReference"/> is the specification.</para>
/// <para>Overflow bounds: a code is ≤ 2 and |x| ≤ 128, so one vpmaddubsw int16 lane (two products) is in
/// [−512, 508]; 32 of them (8 tiles = 128 columns) stay within ±16384 before they are widened to int32.</para>
/// Dispatch: Avx512BW (1 row group × 8 tokens per step, then 2 × 4 and 2 × 1 for the rest) → Avx2 (8 rows × 2 tokens) → Vector128 (any ISA, incl. Arm) → reference.
/// Shape key: T = tokens, R = rows, Rp = rows padded to 32 (one block = 32 rows = two groups), Cp = padded cols.
/// </summary>
public static class TernaryKernels
{
    /// <summary>Rows per block: the unit a GEMM is split into across cores.</summary>
    public const int BlockRows = TernaryPacking.RowPadding;

    /// <summary>Tiles accumulated in int16 before widening to int32 (32 multiply-adds of at most 512 each).</summary>
    const int WidenTiles = 8;

    /// <summary>Blocks of 32 rows in <paramref name="w"/>.</summary>
    public static int Blocks(PackedTernaryMatrix w) => w.PaddedRows / BlockRows;

    /// <summary>All rows for all <c>x.Count</c> tokens on the calling thread: (T, Cp) int8 → (T, R) float, row-major by token.</summary>
    public static void Gemm(PackedTernaryMatrix w, Int8Activations x, Span<float> y) => GemmBlocks(w, x, y, 0, Blocks(w));

    /// <summary>Rows [32·<paramref name="blockStart"/>, 32·<paramref name="blockEnd"/>) of <see cref="Gemm"/>; y keeps its (T, R) layout.</summary>
    public static void GemmBlocks(PackedTernaryMatrix w, Int8Activations x, Span<float> y, int blockStart, int blockEnd)
    {
        CheckShapes(w, x, y, blockStart, blockEnd);
        if (Avx512BW.IsSupported) GemmAvx512(w, x, y, blockStart, blockEnd);
        else if (Avx2.IsSupported) GemmAvx2(w, x, y, blockStart, blockEnd);
        else if (Vector128.IsHardwareAccelerated) GemmVector128(w, x, y, blockStart, blockEnd);
        else GemmReference(w, x, y, blockStart, blockEnd);
    }

    /// <summary>The specification: unpack each code as the layout says, multiply, and scale as docs/model.md §3.</summary>
    public static void GemmReference(PackedTernaryMatrix w, Int8Activations x, Span<float> y, int blockStart, int blockEnd)
    {
        CheckShapes(w, x, y, blockStart, blockEnd);
        int rowEnd = Math.Min(w.Rows, blockEnd * BlockRows);
        for (int t = 0; t < x.Count; t++)
        {
            var xr = x.Row(t);
            for (int r = blockStart * BlockRows; r < rowEnd; r++)
            {
                int dot = 0;
                for (int c = 0; c < w.PaddedCols; c++)
                {
                    var (offset, shift) = TernaryPacking.Locate(r, c, w.PaddedCols);
                    dot += ((w.Codes[offset] >> shift) & 3) * xr[c];
                }
                y[t * w.Rows + r] = Output(dot, x.Sum(t), x.Scale(t) * w.Scale);
            }
        }
    }

    /// <summary>y = (Σ code·x − Σ x) / (a·s): the one float expression every path uses.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Output(int codeDot, int sum, float denominator) => (codeDot - sum) / denominator;

    internal static void GemmAvx512(PackedTernaryMatrix w, Int8Activations x, Span<float> y, int blockStart, int blockEnd)
    {
        CheckShapes(w, x, y, blockStart, blockEnd);
        ref byte codes = ref MemoryMarshal.GetArrayDataReference(w.Codes);
        int tokens = x.Count, t8 = tokens & ~7, t4 = tokens & ~3;
        Span<float> partial = stackalloc float[TernaryPacking.GroupRows];
        Span<Vector512<int>> d = stackalloc Vector512<int>[8];
        for (int b = blockStart; b < blockEnd; b++)
        {
            ref byte g0 = ref Unsafe.Add(ref codes, (nint)b * 2 * w.GroupBytes);
            ref byte g1 = ref Unsafe.Add(ref g0, w.GroupBytes);
            int row0 = b * BlockRows;
            for (int t = 0; t < t8; t += 8)
                for (int g = 0; g < 2; g++)
                {
                    Block1x8Avx512(ref Unsafe.Add(ref g0, g * w.GroupBytes), w.Tiles, ref Unsafe.Add(ref x.Start, (nint)t * x.PaddedCols), x.PaddedCols, d);
                    for (int i = 0; i < 8; i++) StoreGroup(w, x, y, t + i, row0 + g * TernaryPacking.GroupRows, d[i], partial);
                }
            if (t4 > t8)
            {
                Block2x4Avx512(ref g0, ref g1, w.Tiles, ref Unsafe.Add(ref x.Start, (nint)t8 * x.PaddedCols), x.PaddedCols,
                    out var d00, out var d01, out var d02, out var d03, out var d10, out var d11, out var d12, out var d13);
                Store(w, x, y, t8, row0, d00, d10, partial);
                Store(w, x, y, t8 + 1, row0, d01, d11, partial);
                Store(w, x, y, t8 + 2, row0, d02, d12, partial);
                Store(w, x, y, t8 + 3, row0, d03, d13, partial);
            }
            for (int t = t4; t < tokens; t++)
            {
                Block2x1Avx512(ref g0, ref g1, w.Tiles, ref Unsafe.Add(ref x.Start, (nint)t * x.PaddedCols), out var d0, out var d1);
                Store(w, x, y, t, row0, d0, d1, partial);
            }
        }
    }

    /// <summary>Two row groups × four tokens: 8 int16 accumulators widened to int32 every <see cref="WidenTiles"/> tiles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block2x4Avx512(ref byte g0, ref byte g1, int tiles, ref sbyte x, int stride,
        out Vector512<int> d00, out Vector512<int> d01, out Vector512<int> d02, out Vector512<int> d03,
        out Vector512<int> d10, out Vector512<int> d11, out Vector512<int> d12, out Vector512<int> d13)
    {
        var mask = Vector512.Create((byte)3);
        var ones = Vector512.Create((short)1);
        Vector512<int> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
        for (int start = 0; start < tiles; start += WidenTiles)
        {
            Vector512<short> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
            for (int tile = start, end = Math.Min(tiles, start + WidenTiles); tile < end; tile++)
            {
                var p0 = Vector512.LoadUnsafe(ref g0, (nuint)(tile * TernaryPacking.TileBytes)).AsUInt16();
                var p1 = Vector512.LoadUnsafe(ref g1, (nuint)(tile * TernaryPacking.TileBytes)).AsUInt16();
                for (int q = 0; q < 4; q++)
                {
                    var c0 = p0.AsByte() & mask;
                    var c1 = p1.AsByte() & mask;
                    p0 = Vector512.ShiftRightLogical(p0, 2);
                    p1 = Vector512.ShiftRightLogical(p1, 2);
                    int at = tile * TernaryPacking.TileCols + 4 * q;
                    var x0 = Broadcast512(ref x, at);
                    var x1 = Broadcast512(ref x, stride + at);
                    var x2 = Broadcast512(ref x, 2 * stride + at);
                    var x3 = Broadcast512(ref x, 3 * stride + at);
                    s00 += Avx512BW.MultiplyAddAdjacent(c0, x0);
                    s10 += Avx512BW.MultiplyAddAdjacent(c1, x0);
                    s01 += Avx512BW.MultiplyAddAdjacent(c0, x1);
                    s11 += Avx512BW.MultiplyAddAdjacent(c1, x1);
                    s02 += Avx512BW.MultiplyAddAdjacent(c0, x2);
                    s12 += Avx512BW.MultiplyAddAdjacent(c1, x2);
                    s03 += Avx512BW.MultiplyAddAdjacent(c0, x3);
                    s13 += Avx512BW.MultiplyAddAdjacent(c1, x3);
                }
            }
            a00 += Avx512BW.MultiplyAddAdjacent(s00, ones); a10 += Avx512BW.MultiplyAddAdjacent(s10, ones);
            a01 += Avx512BW.MultiplyAddAdjacent(s01, ones); a11 += Avx512BW.MultiplyAddAdjacent(s11, ones);
            a02 += Avx512BW.MultiplyAddAdjacent(s02, ones); a12 += Avx512BW.MultiplyAddAdjacent(s12, ones);
            a03 += Avx512BW.MultiplyAddAdjacent(s03, ones); a13 += Avx512BW.MultiplyAddAdjacent(s13, ones);
        }
        (d00, d01, d02, d03, d10, d11, d12, d13) = (a00, a01, a02, a03, a10, a11, a12, a13);   // locals stay in registers
    }

    /// <summary>
    /// One row group × eight tokens, the main tile: per tile and shift, one unpack feeds eight multiply-adds. Measured
    /// against two groups × four tokens on this machine's AVX-512 core: 138–159 against 118–145 G multiply-adds/s
    /// (D = 256 and 1024, 8–64 tokens, one thread), with the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block1x8Avx512(ref byte g0, int tiles, ref sbyte x, int stride, Span<Vector512<int>> d)
    {
        var mask = Vector512.Create((byte)3);
        var ones = Vector512.Create((short)1);
        Vector512<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int start = 0; start < tiles; start += WidenTiles)
        {
            Vector512<short> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            for (int tile = start, end = Math.Min(tiles, start + WidenTiles); tile < end; tile++)
            {
                var p0 = Vector512.LoadUnsafe(ref g0, (nuint)(tile * TernaryPacking.TileBytes)).AsUInt16();
                for (int q = 0; q < 4; q++)
                {
                    var c0 = p0.AsByte() & mask;
                    p0 = Vector512.ShiftRightLogical(p0, 2);
                    int at = tile * TernaryPacking.TileCols + 4 * q;
                    s0 += Avx512BW.MultiplyAddAdjacent(c0, Broadcast512(ref x, at));
                    s1 += Avx512BW.MultiplyAddAdjacent(c0, Broadcast512(ref x, stride + at));
                    s2 += Avx512BW.MultiplyAddAdjacent(c0, Broadcast512(ref x, 2 * stride + at));
                    s3 += Avx512BW.MultiplyAddAdjacent(c0, Broadcast512(ref x, 3 * stride + at));
                    s4 += Avx512BW.MultiplyAddAdjacent(c0, Broadcast512(ref x, 4 * stride + at));
                    s5 += Avx512BW.MultiplyAddAdjacent(c0, Broadcast512(ref x, 5 * stride + at));
                    s6 += Avx512BW.MultiplyAddAdjacent(c0, Broadcast512(ref x, 6 * stride + at));
                    s7 += Avx512BW.MultiplyAddAdjacent(c0, Broadcast512(ref x, 7 * stride + at));
                }
            }
            a0 += Avx512BW.MultiplyAddAdjacent(s0, ones); a1 += Avx512BW.MultiplyAddAdjacent(s1, ones);
            a2 += Avx512BW.MultiplyAddAdjacent(s2, ones); a3 += Avx512BW.MultiplyAddAdjacent(s3, ones);
            a4 += Avx512BW.MultiplyAddAdjacent(s4, ones); a5 += Avx512BW.MultiplyAddAdjacent(s5, ones);
            a6 += Avx512BW.MultiplyAddAdjacent(s6, ones); a7 += Avx512BW.MultiplyAddAdjacent(s7, ones);
        }
        d[0] = a0; d[1] = a1; d[2] = a2; d[3] = a3; d[4] = a4; d[5] = a5; d[6] = a6; d[7] = a7;
    }

    /// <summary>Two row groups × one token (decode, and the tokens left over by the 4-token steps).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block2x1Avx512(ref byte g0, ref byte g1, int tiles, ref sbyte x, out Vector512<int> d0, out Vector512<int> d1)
    {
        var mask = Vector512.Create((byte)3);
        var ones = Vector512.Create((short)1);
        Vector512<int> a0 = default, a1 = default;
        for (int start = 0; start < tiles; start += WidenTiles)
        {
            Vector512<short> s0a = default, s0b = default, s1a = default, s1b = default;   // two chains per group
            for (int tile = start, end = Math.Min(tiles, start + WidenTiles); tile < end; tile++)
            {
                var p0 = Vector512.LoadUnsafe(ref g0, (nuint)(tile * TernaryPacking.TileBytes)).AsUInt16();
                var p1 = Vector512.LoadUnsafe(ref g1, (nuint)(tile * TernaryPacking.TileBytes)).AsUInt16();
                int at = tile * TernaryPacking.TileCols;
                var xa = Broadcast512(ref x, at);
                var xb = Broadcast512(ref x, at + 4);
                var xc = Broadcast512(ref x, at + 8);
                var xd = Broadcast512(ref x, at + 12);
                s0a += Avx512BW.MultiplyAddAdjacent(p0.AsByte() & mask, xa);
                s1a += Avx512BW.MultiplyAddAdjacent(p1.AsByte() & mask, xa);
                s0b += Avx512BW.MultiplyAddAdjacent(Vector512.ShiftRightLogical(p0, 2).AsByte() & mask, xb);
                s1b += Avx512BW.MultiplyAddAdjacent(Vector512.ShiftRightLogical(p1, 2).AsByte() & mask, xb);
                s0a += Avx512BW.MultiplyAddAdjacent(Vector512.ShiftRightLogical(p0, 4).AsByte() & mask, xc);
                s1a += Avx512BW.MultiplyAddAdjacent(Vector512.ShiftRightLogical(p1, 4).AsByte() & mask, xc);
                s0b += Avx512BW.MultiplyAddAdjacent(Vector512.ShiftRightLogical(p0, 6).AsByte() & mask, xd);
                s1b += Avx512BW.MultiplyAddAdjacent(Vector512.ShiftRightLogical(p1, 6).AsByte() & mask, xd);
            }
            a0 += Avx512BW.MultiplyAddAdjacent(s0a, ones) + Avx512BW.MultiplyAddAdjacent(s0b, ones);
            a1 += Avx512BW.MultiplyAddAdjacent(s1a, ones) + Avx512BW.MultiplyAddAdjacent(s1b, ones);
        }
        (d0, d1) = (a0, a1);
    }

    /// <summary>Four activation bytes at <paramref name="offset"/> in every 32-bit lane (one vpbroadcastd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<sbyte> Broadcast512(ref sbyte x, int offset) =>
        Vector512.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, offset)))).AsSByte();

    /// <summary>Writes the two groups' outputs of token t (rows row0 .. row0 + 31, those below R).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(PackedTernaryMatrix w, Int8Activations x, Span<float> y, int t, int row0, Vector512<int> d0, Vector512<int> d1, Span<float> partial)
    {
        StoreGroup(w, x, y, t, row0, d0, partial);
        StoreGroup(w, x, y, t, row0 + TernaryPacking.GroupRows, d1, partial);
    }

    /// <summary>One group's 16 outputs of token t: (dots − Σx) / (a·s), those below R.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreGroup(PackedTernaryMatrix w, Int8Activations x, Span<float> y, int t, int row0, Vector512<int> dots, Span<float> partial)
    {
        int valid = w.Rows - row0;
        if (valid <= 0) return;
        var v = Vector512.ConvertToSingle(dots - Vector512.Create(x.Sum(t))) / Vector512.Create(x.Scale(t) * w.Scale);
        int at = t * w.Rows + row0;
        if (valid >= TernaryPacking.GroupRows) v.StoreUnsafe(ref MemoryMarshal.GetReference(y), (nuint)at);
        else
        {
            v.StoreUnsafe(ref MemoryMarshal.GetReference(partial));
            partial[..valid].CopyTo(y.Slice(at, valid));
        }
    }

    /// <summary>
    /// 256-bit path: a 64-byte tile is two vectors of 8 rows; each 8-row half runs over all tiles against two
    /// tokens at a time (16 YMM registers allow no more), widening to int32 every tile.
    /// </summary>
    internal static void GemmAvx2(PackedTernaryMatrix w, Int8Activations x, Span<float> y, int blockStart, int blockEnd)
    {
        CheckShapes(w, x, y, blockStart, blockEnd);
        ref byte codes = ref MemoryMarshal.GetArrayDataReference(w.Codes);
        int tokens = x.Count;
        Span<int> dots = stackalloc int[8];
        for (int half = 4 * blockStart; half < 4 * blockEnd; half++)   // 8-row halves: group = half / 2
        {
            ref byte h = ref Unsafe.Add(ref codes, (nint)(half / 2) * w.GroupBytes + (half % 2) * 32);
            int row0 = 8 * half;
            if (row0 >= w.Rows) break;
            for (int t = 0; t < tokens; t += 2)
            {
                bool pair = t + 1 < tokens;
                Half8Avx2(ref h, w.Tiles, ref Unsafe.Add(ref x.Start, (nint)t * x.PaddedCols), pair ? x.PaddedCols : 0, out var d0, out var d1);
                d0.CopyTo(dots);
                for (int i = 0; i < 8 && row0 + i < w.Rows; i++) y[t * w.Rows + row0 + i] = Output(dots[i], x.Sum(t), x.Scale(t) * w.Scale);
                if (!pair) continue;
                d1.CopyTo(dots);
                for (int i = 0; i < 8 && row0 + i < w.Rows; i++) y[(t + 1) * w.Rows + row0 + i] = Output(dots[i], x.Sum(t + 1), x.Scale(t + 1) * w.Scale);
            }
        }
    }

    /// <summary>One 8-row half × two tokens (the second at <paramref name="stride"/>; stride 0 repeats the first).</summary>
    static void Half8Avx2(ref byte h, int tiles, ref sbyte x, int stride, out Vector256<int> d0, out Vector256<int> d1)
    {
        var mask = Vector256.Create((byte)3);
        var ones = Vector256.Create((short)1);
        Vector256<int> a0 = default, a1 = default;
        for (int tile = 0; tile < tiles; tile++)
        {
            var p = Vector256.LoadUnsafe(ref h, (nuint)(tile * TernaryPacking.TileBytes)).AsUInt16();
            Vector256<short> s0 = default, s1 = default;
            for (int q = 0; q < 4; q++)
            {
                var c = p.AsByte() & mask;
                p = Vector256.ShiftRightLogical(p, 2);
                int at = tile * TernaryPacking.TileCols + 4 * q;
                s0 += Avx2.MultiplyAddAdjacent(c, Broadcast256(ref x, at));
                s1 += Avx2.MultiplyAddAdjacent(c, Broadcast256(ref x, stride + at));
            }
            a0 += Avx2.MultiplyAddAdjacent(s0, ones);
            a1 += Avx2.MultiplyAddAdjacent(s1, ones);
        }
        (d0, d1) = (a0, a1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<sbyte> Broadcast256(ref sbyte x, int offset) =>
        Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, offset)))).AsSByte();

    /// <summary>
    /// Portable path (Arm AdvSimd, SSE): 16 bytes of a tile are 4 rows × 4 columns; each column's codes are
    /// pulled out of the 32-bit lanes and multiplied by that activation as int32. Slower, but any ISA.
    /// </summary>
    internal static void GemmVector128(PackedTernaryMatrix w, Int8Activations x, Span<float> y, int blockStart, int blockEnd)
    {
        CheckShapes(w, x, y, blockStart, blockEnd);
        ref byte codes = ref MemoryMarshal.GetArrayDataReference(w.Codes);
        var mask = Vector128.Create(3u);
        Span<int> dots = stackalloc int[4];
        for (int quarter = 8 * blockStart; quarter < 8 * blockEnd; quarter++)   // 4-row quarters: group = quarter / 4
        {
            int row0 = 4 * quarter;
            if (row0 >= w.Rows) break;
            ref byte rows4 = ref Unsafe.Add(ref codes, (nint)(quarter / 4) * w.GroupBytes + (quarter % 4) * 16);
            for (int t = 0; t < x.Count; t++)
            {
                var xr = x.Row(t);
                var acc = Vector128<int>.Zero;
                for (int tile = 0; tile < w.Tiles; tile++)
                {
                    var lanes = Vector128.LoadUnsafe(ref rows4, (nuint)(tile * TernaryPacking.TileBytes)).AsUInt32();
                    for (int k = 0; k < 16; k++)   // bits 2q.. of byte j: column 4q + j
                    {
                        var code = Vector128.ShiftRightLogical(lanes, 8 * (k % 4) + 2 * (k / 4)) & mask;
                        acc += code.AsInt32() * Vector128.Create((int)xr[tile * TernaryPacking.TileCols + k]);
                    }
                }
                acc.CopyTo(dots);
                for (int i = 0; i < 4 && row0 + i < w.Rows; i++) y[t * w.Rows + row0 + i] = Output(dots[i], x.Sum(t), x.Scale(t) * w.Scale);
            }
        }
    }

    static void CheckShapes(PackedTernaryMatrix w, Int8Activations x, ReadOnlySpan<float> y, int blockStart, int blockEnd)
    {
        if (x.Cols != w.Cols)
            throw new ArgumentException($"activations have {x.Cols} columns, the matrix expects {w.Cols}");
        if ((uint)blockStart > (uint)blockEnd || blockEnd > Blocks(w))
            throw new ArgumentOutOfRangeException(nameof(blockEnd), $"blocks [{blockStart}, {blockEnd}) outside the matrix's {Blocks(w)} blocks of {BlockRows} rows");
        if (y.Length < (long)x.Count * w.Rows)
            throw new ArgumentException($"output holds {y.Length} values, {x.Count} tokens x {w.Rows} rows need {(long)x.Count * w.Rows}");
    }
}
