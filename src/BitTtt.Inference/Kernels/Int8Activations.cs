using System.Numerics.Tensors;

namespace BitTtt.Inference.Kernels;

/// <summary>
/// Activations quantized per token (row) to int8 as SPEC §3: a = 127 / max(max|x|, 1e-5),
/// xq = clamp(round_half_even(x·a), -128, 127). Each row is zero-padded to
/// <see cref="PackedTernaryMatrix.BlockSize"/> so kernels never read past it, and keeps Σ xq so the
/// ternary kernel can undo its +1 code offset. Buffers are allocated once; quantizing allocates nothing.
/// Shape key: T = rows (tokens), C = cols, Cp = C padded.
/// </summary>
public sealed class Int8Activations
{
    readonly sbyte[] _values;   // (T, Cp)
    readonly float[] _scales;   // (T)  a per row
    readonly int[] _sums;       // (T)  Σ xq per row

    public Int8Activations(int capacityRows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacityRows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        Cols = cols;
        PaddedCols = PackedTernaryMatrix.PadCols(cols);
        Capacity = capacityRows;
        _values = new sbyte[(long)capacityRows * PaddedCols];
        _scales = new float[capacityRows];
        _sums = new int[capacityRows];
    }

    public int Cols { get; }
    public int PaddedCols { get; }
    public int Capacity { get; }
    /// <summary>Rows quantized by the last <see cref="Quantize"/>.</summary>
    public int Count { get; private set; }

    public ReadOnlySpan<sbyte> Row(int t) => _values.AsSpan(t * PaddedCols, PaddedCols);
    public float Scale(int t) => _scales[t];
    public int Sum(int t) => _sums[t];

    /// <summary>Quantizes <paramref name="rows"/> rows of (T, C) floats.</summary>
    public void Quantize(ReadOnlySpan<float> x, int rows)
    {
        if ((uint)rows > (uint)Capacity)
            throw new ArgumentOutOfRangeException(nameof(rows), $"{rows} rows exceed the capacity of {Capacity}");
        if (x.Length < (long)rows * Cols)
            throw new ArgumentException($"expected at least {rows} x {Cols} values, got {x.Length}", nameof(x));
        for (int t = 0; t < rows; t++)
            _sums[t] = QuantizeRow(x.Slice(t * Cols, Cols), _values.AsSpan(t * PaddedCols, PaddedCols), out _scales[t]);
        Count = rows;
    }

    /// <summary>The reference (and only) row quantizer; returns Σ xq and the scale a. Padding is zeroed.</summary>
    public static int QuantizeRow(ReadOnlySpan<float> x, Span<sbyte> destination, out float scale)
    {
        float maxAbs = x.IsEmpty ? 0f : MathF.Abs(TensorPrimitives.MaxMagnitude(x));
        scale = 127f / MathF.Max(maxAbs, 1e-5f);
        int sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            // MathF.Round is round-half-to-even, as torch.round.
            int q = (int)Math.Clamp(MathF.Round(x[i] * scale), -128f, 127f);
            destination[i] = (sbyte)q;
            sum += q;
        }
        destination[x.Length..].Clear();
        return sum;
    }
}
