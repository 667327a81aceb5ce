namespace BitTtt.Inference.Kernels;

// Packed ternary layout (TQ2-style, 2 bits per weight)
// ----------------------------------------------------
// A BitLinear weight W [rows = out, cols = in] is quantized per tensor as docs/model.md §3:
//   s = 1 / max(mean(|W|), 1e-5),   Wq = clamp(round_half_even(W * s), -1, 1)  ∈ {-1, 0, +1}.
// Each Wq is stored as an unsigned 2-bit code c = Wq + 1:  -1 -> 0,  0 -> 1,  +1 -> 2  (3 is never written).
// Rows are padded to a multiple of BlockSize = 128 weights with code 1 (weight 0).
// One block = 128 weights = 32 bytes.  Byte j (0..31) of a block holds 4 weights:
//   bits 0-1: weight j,  bits 2-3: weight 32 + j,  bits 4-5: weight 64 + j,  bits 6-7: weight 96 + j.
// so `(bytes >> 2k) & 3` over the 32 bytes of a block yields the codes of the 32 consecutive weights
// [32k, 32k + 32) — one AVX2 register, or half of an AVX-512 register when two blocks are loaded.
// Row r starts at byte r * RowBytes (RowBytes = PaddedCols / 4). The per-tensor scale s lives in
// Scale (one float per matrix); the effective weight is Wq / s.
// Because the codes are Wq + 1, a dot with int8 activations gives Σ c·x = Σ Wq·x + Σ x; the kernel
// subtracts the activation sum (computed once per token) to recover Σ Wq·x exactly.

/// <summary>
/// A BitLinear weight packed to 2 bits per weight (layout above), immutable after construction.
/// Shape key: R = rows (out features), C = cols (in features), Cp = C padded to <see cref="BlockSize"/>.
/// </summary>
public sealed class PackedTernaryMatrix
{
    /// <summary>Weights per block; every row is padded to a multiple of this.</summary>
    public const int BlockSize = 128;

    /// <summary>Bytes per block (2 bits per weight).</summary>
    public const int BlockBytes = BlockSize / 4;

    public int Rows { get; }
    public int Cols { get; }
    /// <summary>Cols rounded up to a multiple of <see cref="BlockSize"/>.</summary>
    public int PaddedCols { get; }
    public int RowBytes => PaddedCols / 4;
    /// <summary>The per-tensor weight scale s (effective weight = Wq / s).</summary>
    public float Scale { get; }
    /// <summary>(R, Cp/4) packed codes, row-major.</summary>
    internal byte[] Data { get; }

    PackedTernaryMatrix(int rows, int cols, float scale, byte[] data)
    {
        Rows = rows;
        Cols = cols;
        PaddedCols = PadCols(cols);
        Scale = scale;
        Data = data;
    }

    public static int PadCols(int cols) => (cols + BlockSize - 1) / BlockSize * BlockSize;

    /// <summary>The packed bytes of row <paramref name="row"/>.</summary>
    public ReadOnlySpan<byte> Row(int row) => Data.AsSpan(row * RowBytes, RowBytes);

    /// <summary>
    /// The reference quantizer (this is the layout's specification): per-tensor scale as docs/model.md §3,
    /// then packs (R, C) float weights into 2-bit codes.
    /// </summary>
    public static PackedTernaryMatrix Quantize(ReadOnlySpan<float> weights, int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if (weights.Length != (long)rows * cols)
            throw new ArgumentException($"expected {rows} x {cols} = {(long)rows * cols} weights, got {weights.Length}", nameof(weights));
        float scale = WeightScale(weights);
        var ternary = new sbyte[weights.Length];
        for (int i = 0; i < weights.Length; i++)
            ternary[i] = (sbyte)Math.Clamp(MathF.Round(weights[i] * scale), -1f, 1f);
        return FromTernary(ternary, rows, cols, scale);
    }

    /// <summary>docs/model.md §3: s = 1 / max(mean(|W|), 1e-5). The mean is summed in double, the closest to exact.</summary>
    public static float WeightScale(ReadOnlySpan<float> weights)
    {
        double sum = 0;
        foreach (float w in weights) sum += Math.Abs(w);
        float mean = weights.Length == 0 ? 0f : (float)(sum / weights.Length);
        return 1f / MathF.Max(mean, 1e-5f);
    }

    /// <summary>Packs already ternary (R, C) values in {-1, 0, +1} with the given scale.</summary>
    public static PackedTernaryMatrix FromTernary(ReadOnlySpan<sbyte> ternary, int rows, int cols, float scale)
    {
        if (ternary.Length != (long)rows * cols)
            throw new ArgumentException($"expected {rows} x {cols} values, got {ternary.Length}", nameof(ternary));
        int padded = PadCols(cols), rowBytes = padded / 4;
        var data = new byte[(long)rows * rowBytes];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < padded; c++)
            {
                int q = c < cols ? ternary[r * cols + c] : 0;
                if (q is < -1 or > 1) throw new ArgumentException($"value {q} at [{r}, {c}] is not ternary", nameof(ternary));
                int block = c / BlockSize, within = c % BlockSize;
                int k = within / BlockBytes, j = within % BlockBytes;
                data[r * rowBytes + block * BlockBytes + j] |= (byte)((q + 1) << (2 * k));
            }
        }
        return new PackedTernaryMatrix(rows, cols, scale, data);
    }

    /// <summary>Unpacks to (R, C) ternary values; the inverse of <see cref="FromTernary"/>.</summary>
    public sbyte[] ToTernary()
    {
        var result = new sbyte[(long)Rows * Cols];
        for (int r = 0; r < Rows; r++)
            for (int c = 0; c < Cols; c++)
            {
                int block = c / BlockSize, within = c % BlockSize;
                int code = (Data[r * RowBytes + block * BlockBytes + within % BlockBytes] >> (2 * (within / BlockBytes))) & 3;
                result[r * Cols + c] = (sbyte)(code - 1);
            }
        return result;
    }

    /// <summary>Bytes held by the packed codes.</summary>
    public long SizeInBytes => Data.LongLength;
}
