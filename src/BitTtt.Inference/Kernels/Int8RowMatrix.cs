using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BitTtt.Formats;

namespace BitTtt.Inference.Kernels;

/// <summary>
/// The LM head in int8 with one scale per row (<see cref="Int8Rows"/>: scale_r = max|W_r| / 127), held in the
/// row-group order (16 rows × 2 columns per 32 bytes), against 16-bit activations (<see cref="Int16Activations"/>):
/// y[t, r] = (float)(Σ_c q[r, c] · xq[t, c]) · scale_r / a_t. The sum is an exact int32 (the activation limit
/// guarantees it), so every path, every split of the rows and every batch composition gives the same bits; the
/// float product is the same expression everywhere. A quarter of the fp32 head's bytes.
/// Dispatch: Avx512BW (vpmaddwd, 4 groups × 1 or 4 tokens) → Avx2 → Vector128 → <see cref="GemmReference"/>.
/// Shape key: R = rows (vocabulary), C = cols (hidden), Rp = R padded to 64 (one block), T = tokens.
/// </summary>
public sealed class Int8RowMatrix
{
    /// <summary>Rows per block: the unit the head is split into across cores.</summary>
    public const int BlockRows = Int8Rows.RowPadding;

    readonly sbyte[] _grouped;   // (Rp, C) in the row-group order
    readonly float[] _scales;    // (Rp), 0 for padding rows

    Int8RowMatrix(int rows, int cols, sbyte[] grouped, float[] scales)
    {
        Rows = rows;
        Cols = cols;
        PaddedRows = Int8Rows.PadRows(rows);
        _grouped = grouped;
        _scales = scales;
    }

    public int Rows { get; }
    public int Cols { get; }
    public int PaddedRows { get; }
    public int Blocks => PaddedRows / BlockRows;
    public long SizeInBytes => _grouped.LongLength + 4L * _scales.Length;
    /// <summary>The row-group bytes and padded scales, as a packed file stores them.</summary>
    internal ReadOnlySpan<sbyte> Grouped => _grouped;
    internal ReadOnlySpan<float> Scales => _scales;

    /// <summary>The quantizer (<see cref="Int8Rows.Quantize"/>, the specification) into the row-group order.</summary>
    public static Int8RowMatrix Quantize(ReadOnlySpan<float> weights, int rows, int cols)
    {
        var (values, scales) = Int8Rows.Quantize(weights, rows, cols);
        var padded = new float[Int8Rows.PadRows(rows)];
        scales.CopyTo(padded, 0);
        return new Int8RowMatrix(rows, cols, Int8Rows.ToRowGroups(values, rows, cols), padded);
    }

    /// <summary>Takes a packed file's row-group bytes and padded scales as they are, after checking them.</summary>
    public static Int8RowMatrix FromGrouped(sbyte[] grouped, float[] scales, int rows, int cols, string what)
    {
        int padded = Int8Rows.PadRows(rows);
        if (grouped.LongLength != (long)padded * cols || scales.Length != padded)
            throw new ArgumentException($"{what}: a ({rows}, {cols}) int8 head needs {(long)padded * cols} bytes and {padded} scales, got {grouped.LongLength} and {scales.Length}");
        for (int r = 0; r < padded; r++)
            if (!float.IsFinite(scales[r]) || scales[r] < 0 || (r >= rows && scales[r] != 0))
                throw new ArgumentException($"{what}: row scale {r} is {scales[r]}; expected a finite number >= 0 (0 for padding row {r} >= {rows})");
        for (int i = 0; i < grouped.Length; i++)
            if (grouped[i] == -128) throw new ArgumentException($"{what}: byte {i} is -128; int8 rows hold -127..127");
        return new Int8RowMatrix(rows, cols, grouped, scales);
    }

    /// <summary>The int8 values back in row-major order (R, C) and their scales (R).</summary>
    public (sbyte[] Values, float[] Scales) ToRowMajor() => (Int8Rows.FromRowGroups(_grouped, Rows, Cols), _scales[..Rows]);

    /// <summary>Rows [64·<paramref name="blockStart"/>, 64·<paramref name="blockEnd"/>) for every token t of x into <c>y[t]</c> (R each).</summary>
    public void Gemm(Int16Activations x, float[][] y, int blockStart, int blockEnd)
    {
        Check(x, y, blockStart, blockEnd);
        if (Avx512BW.IsSupported) GemmAvx512(x, y, blockStart, blockEnd);
        else if (Avx2.IsSupported) GemmAvx2(x, y, blockStart, blockEnd);
        else if (Vector128.IsHardwareAccelerated) GemmVector128(x, y, blockStart, blockEnd);
        else GemmReference(x, y, blockStart, blockEnd);
    }

    /// <summary>The specification: exact integer dot per row and token, then ((float)dot · scale_r) / a_t.</summary>
    public void GemmReference(Int16Activations x, float[][] y, int blockStart, int blockEnd)
    {
        Check(x, y, blockStart, blockEnd);
        int end = Math.Min(Rows, blockEnd * BlockRows);
        for (int t = 0; t < x.Count; t++)
        {
            var xr = x.Row(t);
            for (int r = blockStart * BlockRows; r < end; r++)
            {
                int dot = 0;
                for (int c = 0; c < Cols; c++) dot += _grouped[Int8Rows.GroupOffset(r, c, Cols)] * xr[c];
                y[t][r] = Output(dot, _scales[r], x.Scale(t));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Output(int dot, float rowScale, float activationScale) => dot * rowScale / activationScale;

    internal void GemmAvx512(Int16Activations x, float[][] y, int blockStart, int blockEnd)
    {
        Check(x, y, blockStart, blockEnd);
        ref sbyte q = ref MemoryMarshal.GetArrayDataReference(_grouped);
        int groupBytes = Cols * Int8Rows.GroupRows, pairs = Cols / 2, t4 = x.Count & ~3;
        Span<float> partial = stackalloc float[Int8Rows.GroupRows];
        for (int b = blockStart; b < blockEnd; b++)
        {
            ref sbyte g = ref Unsafe.Add(ref q, (nint)b * 4 * groupBytes);
            for (int t = 0; t < t4; t += 4)
                for (int half = 0; half < 2; half++)   // two groups × four tokens at a time
                {
                    Block2x4(ref Unsafe.Add(ref g, half * 2 * groupBytes), groupBytes, pairs, ref Unsafe.Add(ref x.Start, (nint)t * Cols), Cols,
                        out var d00, out var d01, out var d02, out var d03, out var d10, out var d11, out var d12, out var d13);
                    int group = 4 * b + 2 * half;
                    StoreGroup(x, y, t, group, d00, partial); StoreGroup(x, y, t, group + 1, d10, partial);
                    StoreGroup(x, y, t + 1, group, d01, partial); StoreGroup(x, y, t + 1, group + 1, d11, partial);
                    StoreGroup(x, y, t + 2, group, d02, partial); StoreGroup(x, y, t + 2, group + 1, d12, partial);
                    StoreGroup(x, y, t + 3, group, d03, partial); StoreGroup(x, y, t + 3, group + 1, d13, partial);
                }
            for (int t = t4; t < x.Count; t++)
            {
                Block4x1(ref g, groupBytes, pairs, ref Unsafe.Add(ref x.Start, (nint)t * Cols), out var d0, out var d1, out var d2, out var d3);
                StoreGroup(x, y, t, 4 * b, d0, partial);
                StoreGroup(x, y, t, 4 * b + 1, d1, partial);
                StoreGroup(x, y, t, 4 * b + 2, d2, partial);
                StoreGroup(x, y, t, 4 * b + 3, d3, partial);
            }
        }
    }

    /// <summary>Four groups (64 rows) × one token: decode's GEMV.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x1(ref sbyte g, int groupBytes, int pairs, ref short x, out Vector512<int> d0, out Vector512<int> d1, out Vector512<int> d2, out Vector512<int> d3)
    {
        Vector512<int> a0 = default, a1 = default, a2 = default, a3 = default;   // locals, so they stay in registers
        for (int p = 0; p < pairs; p++)
        {
            var xp = Broadcast(ref x, 2 * p);
            a0 += Avx512BW.MultiplyAddAdjacent(Widen(ref g, 32 * p), xp);
            a1 += Avx512BW.MultiplyAddAdjacent(Widen(ref g, groupBytes + 32 * p), xp);
            a2 += Avx512BW.MultiplyAddAdjacent(Widen(ref g, 2 * groupBytes + 32 * p), xp);
            a3 += Avx512BW.MultiplyAddAdjacent(Widen(ref g, 3 * groupBytes + 32 * p), xp);
        }
        (d0, d1, d2, d3) = (a0, a1, a2, a3);
    }

    /// <summary>Two groups × four tokens: each pair's weights are widened once and used four times.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block2x4(ref sbyte g, int groupBytes, int pairs, ref short x, int stride,
        out Vector512<int> d00, out Vector512<int> d01, out Vector512<int> d02, out Vector512<int> d03,
        out Vector512<int> d10, out Vector512<int> d11, out Vector512<int> d12, out Vector512<int> d13)
    {
        Vector512<int> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
        for (int p = 0; p < pairs; p++)
        {
            var w0 = Widen(ref g, 32 * p);
            var w1 = Widen(ref g, groupBytes + 32 * p);
            var x0 = Broadcast(ref x, 2 * p);
            var x1 = Broadcast(ref x, stride + 2 * p);
            var x2 = Broadcast(ref x, 2 * stride + 2 * p);
            var x3 = Broadcast(ref x, 3 * stride + 2 * p);
            a00 += Avx512BW.MultiplyAddAdjacent(w0, x0); a10 += Avx512BW.MultiplyAddAdjacent(w1, x0);
            a01 += Avx512BW.MultiplyAddAdjacent(w0, x1); a11 += Avx512BW.MultiplyAddAdjacent(w1, x1);
            a02 += Avx512BW.MultiplyAddAdjacent(w0, x2); a12 += Avx512BW.MultiplyAddAdjacent(w1, x2);
            a03 += Avx512BW.MultiplyAddAdjacent(w0, x3); a13 += Avx512BW.MultiplyAddAdjacent(w1, x3);
        }
        (d00, d01, d02, d03, d10, d11, d12, d13) = (a00, a01, a02, a03, a10, a11, a12, a13);
    }

    /// <summary>32 int8 weights (16 rows × 2 columns) sign-extended to int16 (vpmovsxbw).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<short> Widen(ref sbyte g, int offset) => Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref g, (nuint)offset));

    /// <summary>Two 16-bit activations (one column pair) in every 32-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<short> Broadcast(ref short x, int offset) =>
        Vector512.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<short, byte>(ref Unsafe.Add(ref x, offset)))).AsInt16();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void StoreGroup(Int16Activations x, float[][] y, int t, int group, Vector512<int> dots, Span<float> partial)
    {
        int row0 = group * Int8Rows.GroupRows, valid = Rows - row0;
        if (valid <= 0) return;
        var v = Vector512.ConvertToSingle(dots) * Vector512.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(_scales), (nuint)row0) / Vector512.Create(x.Scale(t));
        if (valid >= Int8Rows.GroupRows) v.StoreUnsafe(ref MemoryMarshal.GetArrayDataReference(y[t]), (nuint)row0);
        else
        {
            v.StoreUnsafe(ref MemoryMarshal.GetReference(partial));
            partial[..valid].CopyTo(y[t].AsSpan(row0, valid));
        }
    }

    /// <summary>256-bit path: 16 bytes of a pair are 8 rows; one 8-row half over all pairs, one token at a time.</summary>
    internal void GemmAvx2(Int16Activations x, float[][] y, int blockStart, int blockEnd)
    {
        Check(x, y, blockStart, blockEnd);
        ref sbyte q = ref MemoryMarshal.GetArrayDataReference(_grouped);
        int groupBytes = Cols * Int8Rows.GroupRows, pairs = Cols / 2;
        Span<int> dots = stackalloc int[8];
        for (int half = 8 * blockStart; half < 8 * blockEnd && 8 * half < Rows; half++)
        {
            ref sbyte h = ref Unsafe.Add(ref q, (nint)(half / 2) * groupBytes + (half % 2) * 16);
            for (int t = 0; t < x.Count; t++)
            {
                ref short xs = ref Unsafe.Add(ref x.Start, (nint)t * Cols);
                var acc = Vector256<int>.Zero;
                for (int p = 0; p < pairs; p++)
                {
                    var w = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref h, (nuint)(32 * p)));
                    var xp = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<short, byte>(ref Unsafe.Add(ref xs, 2 * p)))).AsInt16();
                    acc += Avx2.MultiplyAddAdjacent(w, xp);
                }
                acc.CopyTo(dots);
                for (int i = 0; i < 8 && 8 * half + i < Rows; i++) y[t][8 * half + i] = Output(dots[i], _scales[8 * half + i], x.Scale(t));
            }
        }
    }

    /// <summary>Portable path: per 4-row quarter, widen to int32 and multiply; each row's two lanes summed at the end.</summary>
    internal void GemmVector128(Int16Activations x, float[][] y, int blockStart, int blockEnd)
    {
        Check(x, y, blockStart, blockEnd);
        int groupBytes = Cols * Int8Rows.GroupRows, pairs = Cols / 2;
        Span<int> lanes = stackalloc int[8];
        for (int quarter = 16 * blockStart; quarter < 16 * blockEnd && 4 * quarter < Rows; quarter++)
        {
            int offset = (quarter / 4) * groupBytes + (quarter % 4) * 8;
            for (int t = 0; t < x.Count; t++)
            {
                var xr = x.Row(t);
                Vector128<int> lo = default, hi = default;   // lanes: row 0 col 0, row 0 col 1, row 1 col 0, ... (rows 0-1, rows 2-3)
                for (int p = 0; p < pairs; p++)
                {
                    var bytes = Vector64.Create(MemoryMarshal.Read<long>(MemoryMarshal.AsBytes(_grouped.AsSpan(offset + 32 * p, 8)))).AsSByte();
                    var (w01, w23) = Vector128.Widen(Vector128.WidenLower(bytes.ToVector128Unsafe()));
                    var xp = Vector128.Create((int)xr[2 * p], xr[2 * p + 1], xr[2 * p], xr[2 * p + 1]);
                    lo += w01 * xp;
                    hi += w23 * xp;
                }
                lo.CopyTo(lanes);
                hi.CopyTo(lanes[4..]);
                for (int i = 0; i < 4 && 4 * quarter + i < Rows; i++)
                    y[t][4 * quarter + i] = Output(lanes[2 * i] + lanes[2 * i + 1], _scales[4 * quarter + i], x.Scale(t));
            }
        }
    }

    void Check(Int16Activations x, float[][] y, int blockStart, int blockEnd)
    {
        ArgumentNullException.ThrowIfNull(y);
        if (x.Cols != Cols) throw new ArgumentException($"activations have {x.Cols} columns, the head expects {Cols}");
        if ((uint)blockStart > (uint)blockEnd || blockEnd > Blocks)
            throw new ArgumentOutOfRangeException(nameof(blockEnd), $"blocks [{blockStart}, {blockEnd}) outside the head's {Blocks} blocks of {BlockRows} rows");
        if (y.Length < x.Count)
            throw new ArgumentException($"{y.Length} output rows for {x.Count} tokens");
        for (int t = 0; t < x.Count; t++)
            if (y[t] is null || y[t].Length < Rows) throw new ArgumentException($"output row {t} holds {y[t]?.Length ?? 0} values, the head has {Rows} rows");
    }
}
