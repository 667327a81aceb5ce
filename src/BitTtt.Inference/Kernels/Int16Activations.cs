using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace BitTtt.Inference.Kernels;

/// <summary>
/// The LM head's input, quantized per token (row) to 16-bit integers: a = A / max(max|x|, 1e-5),
/// xq = clamp(round_half_even(x·a), −A, A), with A = <see cref="Limit"/>(C) chosen so that a whole row of the
/// int8 head times xq sums exactly in int32 (127 · A · C &lt; 2³¹). For the hidden widths in use A = 32767, so
/// the rounding is 1/65534 of max|x|, far below the int8 weights' own rounding. Buffers are allocated once;
/// quantizing allocates nothing. Shape key: T = rows (tokens), C = cols.
/// </summary>
public sealed class Int16Activations
{
    readonly short[] _values;   // (T, C)
    readonly float[] _scales;   // (T)  a per row

    public Int16Activations(int capacityRows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacityRows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if (cols % 2 != 0) throw new ArgumentException($"the LM head's input width must be even, got {cols}", nameof(cols));
        Cols = cols;
        Capacity = capacityRows;
        Max = Limit(cols);
        _values = new short[(long)capacityRows * cols];
        _scales = new float[capacityRows];
    }

    /// <summary>A = min(32767, ⌊(2³¹ − 1) / (127 · C)⌋): the largest magnitude whose int32 row sums cannot overflow.</summary>
    public static int Limit(int cols) => (int)Math.Min(short.MaxValue, int.MaxValue / (127L * Math.Max(cols, 1)));

    public int Cols { get; }
    public int Capacity { get; }
    /// <summary>A for this width.</summary>
    public int Max { get; }
    /// <summary>Rows quantized by the last <see cref="Quantize"/>.</summary>
    public int Count { get; private set; }

    public ReadOnlySpan<short> Row(int t) => _values.AsSpan(t * Cols, Cols);
    public float Scale(int t) => _scales[t];
    internal ref short Start => ref MemoryMarshal.GetArrayDataReference(_values);

    /// <summary>Quantizes <paramref name="rows"/> rows of (T, C) floats.</summary>
    public void Quantize(ReadOnlySpan<float> x, int rows)
    {
        if ((uint)rows > (uint)Capacity)
            throw new ArgumentOutOfRangeException(nameof(rows), $"{rows} rows exceed the capacity of {Capacity}");
        if (x.Length < (long)rows * Cols)
            throw new ArgumentException($"expected at least {rows} x {Cols} values, got {x.Length}", nameof(x));
        for (int t = 0; t < rows; t++) QuantizeRow(x.Slice(t * Cols, Cols), t);
        Count = rows;
    }

    /// <summary>Quantizes one row into row <paramref name="t"/> (rows past <see cref="Count"/> extend it).</summary>
    public void QuantizeRow(ReadOnlySpan<float> x, int t)
    {
        if (x.Length != Cols || (uint)t >= (uint)Capacity)
            throw new ArgumentException($"row {t} of {Cols} values (capacity {Capacity}), got {x.Length} values");
        float a = Max / MathF.Max(x.IsEmpty ? 0f : MathF.Abs(TensorPrimitives.MaxMagnitude(x)), 1e-5f);
        var row = _values.AsSpan(t * Cols, Cols);
        for (int i = 0; i < x.Length; i++) row[i] = (short)Math.Clamp(MathF.Round(x[i] * a), -Max, Max);   // half to even
        _scales[t] = a;
        Count = Math.Max(Count, t + 1);
    }

    /// <summary>Forgets the rows (the next <see cref="QuantizeRow"/> calls start at row 0).</summary>
    public void Clear() => Count = 0;
}
