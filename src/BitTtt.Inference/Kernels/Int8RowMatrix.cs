using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BitTtt.Inference.Kernels;

/// <summary>
/// An optional int8 copy of a full-precision matrix (the LM head): one scale per row,
/// <c>scale_r = max|W_r| / 127</c>, <c>q = clamp(round_half_even(W / scale_r), -127, 127)</c>; the input
/// stays fp32, so <c>y_r = scale_r · Σ q_rj · x_j</c>. A quarter of the fp32 bytes, which is what a
/// memory-bound decode step streams; the price is accuracy (see docs/benchmarks.md), so the engine
/// uses it only when asked. Shape key: R = rows, C = cols.
/// </summary>
public sealed class Int8RowMatrix
{
    readonly sbyte[] _values;   // (R, C)
    readonly float[] _scales;   // (R)

    Int8RowMatrix(int rows, int cols, sbyte[] values, float[] scales)
    {
        Rows = rows;
        Cols = cols;
        _values = values;
        _scales = scales;
    }

    public int Rows { get; }
    public int Cols { get; }
    public long SizeInBytes => _values.LongLength + 4L * _scales.Length;

    /// <summary>The quantizer (this is the format's specification).</summary>
    public static Int8RowMatrix Quantize(ReadOnlySpan<float> weights, int rows, int cols)
    {
        if (weights.Length != (long)rows * cols)
            throw new ArgumentException($"expected {rows} x {cols} = {(long)rows * cols} weights, got {weights.Length}", nameof(weights));
        var values = new sbyte[weights.Length];
        var scales = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            var row = weights.Slice(r * cols, cols);
            float max = 0;
            foreach (float w in row) max = MathF.Max(max, MathF.Abs(w));
            scales[r] = max / 127f;
            float inv = max == 0 ? 0 : 127f / max;
            for (int j = 0; j < cols; j++) values[r * cols + j] = (sbyte)Math.Clamp(MathF.Round(row[j] * inv), -127f, 127f);
        }
        return new Int8RowMatrix(rows, cols, values, scales);
    }

    /// <summary>y[start..end) = rows start..end of W·x; the AVX-512 path when available, else the reference.</summary>
    public void Gemv(ReadOnlySpan<float> x, Span<float> y, int start, int end)
    {
        if (x.Length != Cols || y.Length < Rows || (uint)start > (uint)end || end > Rows)
            throw new ArgumentException($"x has {x.Length} values (expected {Cols}), y {y.Length} (expected {Rows}), rows [{start}, {end})");
        if (Avx512F.IsSupported && Cols % 16 == 0) GemvAvx512(x, y, start, end);
        else GemvReference(x, y, start, end);
    }

    /// <summary>The scalar twin: plain loops, float accumulation in column order.</summary>
    public void GemvReference(ReadOnlySpan<float> x, Span<float> y, int start, int end)
    {
        for (int r = start; r < end; r++)
        {
            float acc = 0;
            for (int j = 0; j < Cols; j++) acc += _values[r * Cols + j] * x[j];
            y[r] = acc * _scales[r];
        }
    }

    void GemvAvx512(ReadOnlySpan<float> x, Span<float> y, int start, int end)
    {
        ref sbyte q = ref MemoryMarshal.GetArrayDataReference(_values);
        ref float xs = ref MemoryMarshal.GetReference(x);
        for (int r = start; r < end; r++)
        {
            ref sbyte row = ref System.Runtime.CompilerServices.Unsafe.Add(ref q, (nint)r * Cols);
            var acc = Vector512<float>.Zero;
            for (int j = 0; j < Cols; j += 16)
            {
                var w = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.LoadUnsafe(ref row, (nuint)j)));
                acc = Avx512F.FusedMultiplyAdd(w, Vector512.LoadUnsafe(ref xs, (nuint)j), acc);
            }
            y[r] = Vector512.Sum(acc) * _scales[r];
        }
    }
}
