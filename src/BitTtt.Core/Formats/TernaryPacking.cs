namespace BitTtt.Formats;

// Packed ternary layout (2 bits per weight, row groups of 16), docs/format.md §7
// -------------------------------------------------------------------------------
// A BitLinear weight W [rows = out, cols = in] is quantized per tensor as docs/model.md §3:
//   s = 1 / max(mean(|W|), 1e-5),   Wq = clamp(round_half_even(W * s), -1, 1)  ∈ {-1, 0, +1}.
// Each Wq is stored as an unsigned 2-bit code c = Wq + 1:  -1 -> 0,  0 -> 1,  +1 -> 2  (3 is never written).
// Rows are padded to Rp = a multiple of 32 and columns to Cp = a multiple of 16, with code 1 (weight 0).
// The rows form groups of 16; group g holds rows 16g .. 16g + 15. Each group is stored as Cp/16 tiles of
// 64 bytes, tile t covering columns 16t .. 16t + 15. Byte 4i + j of a tile (i = 0..15, j = 0..3) holds four
// codes of row 16g + i:
//   bits 0-1: column 16t + j,  bits 2-3: column 16t + 4 + j,  bits 4-5: column 16t + 8 + j,  bits 6-7: column 16t + 12 + j.
// So `(tile >> 2q) & 3` over the 64 bytes gives, in byte 4i + j, the code of row i at column 16t + 4q + j: for
// each of the 16 rows, four consecutive columns — one 32-bit lane per row, which is the operand layout of an
// integer multiply-add that sums 4 byte products into each 32-bit lane (vpmaddubsw + vpmaddwd). The kernel
// broadcasts 4 activation bytes to every lane and gets 16 rows' partial dots at once, with no horizontal sum.
// Offset of row r's tile t: ((r / 16) · (Cp / 16) + t) · 64. Size: Rp · Cp / 4 bytes, plus one float scale.
// Because the codes are Wq + 1, a dot with int8 activations gives Σ c·x = Σ Wq·x + Σ x; kernels subtract the
// activation sum (computed once per token) to recover Σ Wq·x exactly.

/// <summary>
/// The packed ternary layout (above) as a specification: the reference quantizer <see cref="Quantize"/>, the
/// packer and unpacker, the dequantizer and the size formula. The engine's kernels and the packed <c>.bitt</c>
/// file (docs/format.md §7) use these bytes as they are. Shape key: R = rows, C = cols, Rp / Cp = padded.
/// </summary>
public static class TernaryPacking
{
    /// <summary>Rows of one group: the 32-bit lanes of a 512-bit register.</summary>
    public const int GroupRows = 16;

    /// <summary>Rows are padded to a multiple of this (two groups, the kernels' row step).</summary>
    public const int RowPadding = 32;

    /// <summary>Columns of one tile; columns are padded to a multiple of this.</summary>
    public const int TileCols = 16;

    /// <summary>Bytes of one tile: 16 rows × 16 columns × 2 bits.</summary>
    public const int TileBytes = GroupRows * TileCols / 4;

    /// <summary>Rp: rows rounded up to a multiple of <see cref="RowPadding"/>.</summary>
    public static int PadRows(int rows) => checked((rows + RowPadding - 1) / RowPadding * RowPadding);

    /// <summary>Cp: cols rounded up to a multiple of <see cref="TileCols"/>.</summary>
    public static int PadCols(int cols) => checked((cols + TileCols - 1) / TileCols * TileCols);

    /// <summary>The size formula: Rp · Cp / 4 bytes of codes for an (R, C) weight.</summary>
    public static long PackedBytes(int rows, int cols) => (long)PadRows(rows) * PadCols(cols) / 4;

    /// <summary>docs/model.md §3: s = 1 / max(mean(|W|), 1e-5). The mean is summed in double, the closest to exact.</summary>
    public static float WeightScale(ReadOnlySpan<float> weights)
    {
        double sum = 0;
        foreach (float w in weights) sum += Math.Abs(w);
        float mean = weights.Length == 0 ? 0f : (float)(sum / weights.Length);
        return 1f / MathF.Max(mean, 1e-5f);
    }

    /// <summary>
    /// The reference quantizer (the layout's specification): the per-tensor scale and the ternary values of
    /// docs/model.md §3, packed. Returns the codes (<see cref="PackedBytes"/> long) and s.
    /// </summary>
    public static (byte[] Codes, float Scale) Quantize(ReadOnlySpan<float> weights, int rows, int cols)
    {
        CheckCount(weights.Length, rows, cols);
        var (ternary, scale) = Ternarize(weights);
        return (Pack(ternary, rows, cols), scale);
    }

    /// <summary>docs/model.md §3's weight quantizer before packing: Wq = clamp(round_half_even(W·s), −1, 1) and s.</summary>
    public static (sbyte[] Ternary, float Scale) Ternarize(ReadOnlySpan<float> weights)
    {
        float scale = WeightScale(weights);
        var ternary = new sbyte[weights.Length];
        for (int i = 0; i < weights.Length; i++)
            ternary[i] = (sbyte)Math.Clamp(MathF.Round(weights[i] * scale), -1f, 1f);   // MathF.Round: half to even
        return (ternary, scale);
    }

    /// <summary>Packs (R, C) values in {-1, 0, +1}, row-major, into the layout.</summary>
    public static byte[] Pack(ReadOnlySpan<sbyte> ternary, int rows, int cols)
    {
        CheckCount(ternary.Length, rows, cols);
        int paddedRows = PadRows(rows), paddedCols = PadCols(cols);
        var codes = new byte[PackedBytes(rows, cols)];
        for (int r = 0; r < paddedRows; r++)
            for (int c = 0; c < paddedCols; c++)
            {
                int q = r < rows && c < cols ? ternary[r * cols + c] : 0;
                if (q is < -1 or > 1) throw new ArgumentException($"value {q} at [{r}, {c}] is not ternary", nameof(ternary));
                var (offset, shift) = Locate(r, c, paddedCols);
                codes[offset] |= (byte)((q + 1) << shift);
            }
        return codes;
    }

    /// <summary>The unpacker: (R, C) values in {-1, 0, +1}; the inverse of <see cref="Pack"/>. A code 3 is rejected.</summary>
    public static sbyte[] Unpack(ReadOnlySpan<byte> codes, int rows, int cols)
    {
        if (codes.Length != PackedBytes(rows, cols))
            throw new ArgumentException($"a packed ({rows}, {cols}) ternary weight has {PackedBytes(rows, cols)} bytes, got {codes.Length}", nameof(codes));
        int paddedCols = PadCols(cols);
        var ternary = new sbyte[(long)rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                var (offset, shift) = Locate(r, c, paddedCols);
                int code = (codes[offset] >> shift) & 3;
                if (code == 3) throw new ArgumentException($"code 3 at [{r}, {c}] is not a ternary value", nameof(codes));
                ternary[r * cols + c] = (sbyte)(code - 1);
            }
        return ternary;
    }

    /// <summary>The dequantizer: the effective weights Wq / s as docs/model.md §3 uses them, (R, C) row-major.</summary>
    public static float[] Dequantize(ReadOnlySpan<byte> codes, float scale, int rows, int cols)
    {
        var ternary = Unpack(codes, rows, cols);
        var weights = new float[ternary.Length];
        for (int i = 0; i < ternary.Length; i++) weights[i] = ternary[i] / scale;
        return weights;
    }

    /// <summary>Byte offset and bit shift of weight [r, c] in a layout of <paramref name="paddedCols"/> columns.</summary>
    public static (int Offset, int Shift) Locate(int r, int c, int paddedCols)
    {
        int tile = c / TileCols, within = c % TileCols;
        int offset = checked(((r / GroupRows) * (paddedCols / TileCols) + tile) * TileBytes + 4 * (r % GroupRows) + within % 4);
        return (offset, 2 * (within / 4));
    }

    static void CheckCount(int count, int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if (count != (long)rows * cols)
            throw new ArgumentException($"expected {rows} x {cols} = {(long)rows * cols} values, got {count}");
    }
}
