using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BitTtt.Formats;

namespace BitTtt.Inference.Kernels;

/// <summary>
/// Activations quantized per token (row) to int8 as docs/model.md §3: a = 127 / max(max|x|, 1e-5),
/// xq = clamp(round_half_even(x·a), -128, 127). Each row is zero-padded to a multiple of
/// <see cref="TernaryPacking.TileCols"/> (the packed weights' column padding) so kernels never read past it, and
/// keeps Σ xq so the ternary kernel can undo its +1 code offset. Buffers are allocated once; quantizing allocates nothing.
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
        PaddedCols = TernaryPacking.PadCols(cols);
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
    /// <summary>The first value of row 0; rows follow every <see cref="PaddedCols"/> bytes (for kernels).</summary>
    internal ref sbyte Start => ref MemoryMarshal.GetArrayDataReference(_values);
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

    /// <summary>
    /// Quantizes rows [<paramref name="start"/>, <paramref name="end"/>) of the (T, C) floats <paramref name="x"/> in place
    /// of the same rows, leaving <see cref="Count"/> alone (several threads may quantize disjoint ranges; then <see cref="SetCount"/>).
    /// </summary>
    public void QuantizeRange(ReadOnlySpan<float> x, int start, int end)
    {
        if ((uint)start > (uint)end || end > Capacity || x.Length < (long)end * Cols)
            throw new ArgumentOutOfRangeException(nameof(end), $"rows [{start}, {end}) of {Cols} values: capacity {Capacity}, {x.Length} values given");
        for (int t = start; t < end; t++)
            _sums[t] = QuantizeRow(x.Slice(t * Cols, Cols), _values.AsSpan(t * PaddedCols, PaddedCols), out _scales[t]);
    }

    /// <summary>Declares rows 0 .. <paramref name="rows"/> − 1 quantized (after <see cref="QuantizeRange"/>).</summary>
    public void SetCount(int rows)
    {
        if ((uint)rows > (uint)Capacity) throw new ArgumentOutOfRangeException(nameof(rows), $"{rows} rows exceed the capacity of {Capacity}");
        Count = rows;
    }

    /// <summary>Quantizes one row; returns Σ xq and the scale a. Padding is zeroed. Same bytes as <see cref="QuantizeRowReference"/>.</summary>
    public static int QuantizeRow(ReadOnlySpan<float> x, Span<sbyte> destination, out float scale)
    {
        scale = Scale(x);
        int i = 0, sum = 0;
        if (Avx512F.IsSupported && x.Length >= 16)
        {
            var a = Vector512.Create(scale);
            var lo = Vector512.Create(-128f);
            var hi = Vector512.Create(127f);
            var acc = Vector512<int>.Zero;
            ref float src = ref MemoryMarshal.GetReference(x);
            ref sbyte dst = ref MemoryMarshal.GetReference(destination);
            for (; i + 16 <= x.Length; i += 16)
            {
                // Round is round-half-to-even, as MathF.Round and torch.round; the products are the same IEEE multiplies.
                var q = Vector512.ConvertToInt32(Vector512.Min(Vector512.Max(Vector512.Round(Vector512.LoadUnsafe(ref src, (nuint)i) * a), lo), hi));
                acc += q;
                Avx512F.ConvertToVector128SByte(q).StoreUnsafe(ref dst, (nuint)i);
            }
            sum = Vector512.Sum(acc);
        }
        for (; i < x.Length; i++)
        {
            int q = (int)Math.Clamp(MathF.Round(x[i] * scale), -128f, 127f);
            destination[i] = (sbyte)q;
            sum += q;
        }
        destination[x.Length..].Clear();
        return sum;
    }

    /// <summary>The specification (docs/model.md §3), element by element; returns Σ xq and the scale a. Padding is zeroed.</summary>
    public static int QuantizeRowReference(ReadOnlySpan<float> x, Span<sbyte> destination, out float scale)
    {
        scale = Scale(x);
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

    /// <summary>a = 127 / max(max|x|, 1e-5).</summary>
    static float Scale(ReadOnlySpan<float> x) => 127f / MathF.Max(x.IsEmpty ? 0f : MathF.Abs(TensorPrimitives.MaxMagnitude(x)), 1e-5f);
}
