namespace BitTtt.Formats;

// Int8 rows with one scale per row (the embedding and the LM head), docs/format.md §7
// -----------------------------------------------------------------------------------
// Row r of a full-precision matrix W (R, C) is stored as q_r = clamp(round_half_even(W_r · (127 / m_r)), −127, 127)
// with m_r = max|W_r| and the float scale_r = m_r / 127 (q_r = 0 and scale_r = 0 for an all-zero row), so
// W_r ≈ q_r · scale_r. Two byte orders:
//   row-major   (the embedding)  byte r·C + c = q[r][c]; a row is one contiguous lookup.
//   row groups  (the LM head)    rows padded to Rp = a multiple of 64 (zero rows, scale 0); group g holds rows
//                                16g .. 16g + 15 as C/2 column pairs of 32 bytes; byte 2i + h of pair p holds
//                                q[16g + i][2p + h] (C is even: hidden_dim is a multiple of 4). Sign-extended to
//                                int16, a pair is one 512-bit vector whose 32-bit lanes are one row's two columns,
//                                the operand layout of vpmaddwd against two broadcast 16-bit activations.
//                                Offset of q[r][c]: ((r / 16) · (C / 2) + c / 2) · 32 + 2 · (r % 16) + c % 2.
// Size: R·C bytes + 4·R (row-major), Rp·C bytes + 4·Rp (row groups).

/// <summary>
/// The int8 row quantization (above) as a specification: the reference quantizer, the dequantizer, the two byte
/// orders and their size formulas. Shape key: R = rows, C = cols, Rp = rows padded.
/// </summary>
public static class Int8Rows
{
    /// <summary>Rows of one group of the row-group order (32-bit lanes of a 512-bit register).</summary>
    public const int GroupRows = 16;

    /// <summary>Rows of the row-group order are padded to a multiple of this (four groups, the kernels' row step).</summary>
    public const int RowPadding = 64;

    /// <summary>Rp of the row-group order.</summary>
    public static int PadRows(int rows) => checked((rows + RowPadding - 1) / RowPadding * RowPadding);

    /// <summary>The reference quantizer: (R, C) row-major floats → q (row-major) and the R scales.</summary>
    public static (sbyte[] Values, float[] Scales) Quantize(ReadOnlySpan<float> weights, int rows, int cols)
    {
        CheckCount(weights.Length, rows, cols);
        var values = new sbyte[weights.Length];
        var scales = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            var row = weights.Slice(r * cols, cols);
            float max = 0;
            foreach (float w in row) max = MathF.Max(max, MathF.Abs(w));
            scales[r] = max / 127f;
            float inverse = max == 0 ? 0 : 127f / max;
            for (int c = 0; c < cols; c++) values[r * cols + c] = (sbyte)Math.Clamp(MathF.Round(row[c] * inverse), -127f, 127f);
        }
        return (values, scales);
    }

    /// <summary>The dequantizer: q · scale per row, (R, C) row-major floats.</summary>
    public static float[] Dequantize(ReadOnlySpan<sbyte> values, ReadOnlySpan<float> scales, int rows, int cols)
    {
        CheckCount(values.Length, rows, cols);
        if (scales.Length != rows) throw new ArgumentException($"expected {rows} scales, got {scales.Length}", nameof(scales));
        var weights = new float[values.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) weights[r * cols + c] = values[r * cols + c] * scales[r];
        return weights;
    }

    /// <summary>Row-major q (R, C) → the row-group order, Rp·C bytes (padding rows zero).</summary>
    public static sbyte[] ToRowGroups(ReadOnlySpan<sbyte> values, int rows, int cols)
    {
        CheckCount(values.Length, rows, cols);
        if (cols % 2 != 0) throw new ArgumentException($"the row-group order needs an even column count, got {cols}", nameof(cols));
        var grouped = new sbyte[(long)PadRows(rows) * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) grouped[GroupOffset(r, c, cols)] = values[r * cols + c];
        return grouped;
    }

    /// <summary>The row-group order back to row-major (R, C); padding rows are dropped.</summary>
    public static sbyte[] FromRowGroups(ReadOnlySpan<sbyte> grouped, int rows, int cols)
    {
        if (grouped.Length != (long)PadRows(rows) * cols)
            throw new ArgumentException($"row-group int8 ({rows}, {cols}) has {(long)PadRows(rows) * cols} bytes, got {grouped.Length}", nameof(grouped));
        var values = new sbyte[(long)rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) values[r * cols + c] = grouped[GroupOffset(r, c, cols)];
        return values;
    }

    /// <summary>Offset of q[r][c] in the row-group order of <paramref name="cols"/> columns.</summary>
    public static int GroupOffset(int r, int c, int cols) => checked(((r / GroupRows) * (cols / 2) + c / 2) * (2 * GroupRows) + 2 * (r % GroupRows) + c % 2);

    static void CheckCount(int count, int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if (count != (long)rows * cols)
            throw new ArgumentException($"expected {rows} x {cols} = {(long)rows * cols} values, got {count}");
    }
}
