namespace BitTtt.Formats;

// The packed .bitt (docs/format.md §7): the .bitt container of §4 with header field "packing": 1 and, in its
// safetensors body, the tensors of docs/model.md §2 stored as the engine holds them:
//   ternary (BitLinear) W [R, C]   "<name>"        U8  [Rp, Cp / 4]  2-bit codes, TernaryPacking's layout
//                                  "<name>_scale"  F32 []            s of docs/model.md §3 (effective weight Wq / s)
//   embed.weight [V, D]            "embed.weight"  I8  [V, D]        Int8Rows, row-major
//                                  "embed.weight_scale"  F32 [V]
//   lm_head.weight [V, D]          "lm_head.weight"  I8 [Vp, D]      Int8Rows, row groups of 16 × column pairs
//                                  "lm_head.weight_scale"  F32 [Vp]  (0 for the padding rows)
//   every other tensor             as in §2, F32
// Size of the tensor data (the size formula): Σ_ternary (Rp·Cp/4 + 4) + (V·D + 4V) + (Vp·D + 4Vp) + 4 · (full-precision values).

/// <summary>
/// The packed <c>.bitt</c>'s tensor list (names, dtypes and stored shapes, above), its check and its size formula.
/// The reference quantizers are <see cref="TernaryPacking.Quantize"/> and <see cref="Int8Rows.Quantize"/>; the
/// dequantizers <see cref="TernaryPacking.Dequantize"/> and <see cref="Int8Rows.Dequantize"/>.
/// Shape key (docs/model.md): V = vocab, D = hidden, R / C = a matrix's rows / cols, Rp / Cp / Vp = padded.
/// </summary>
public static class PackedWeights
{
    /// <summary>The packing version this code writes and reads (the .bitt header field <c>packing</c>).</summary>
    public const int Version = 1;

    /// <summary>The suffix of a packed tensor's scales: <c>layers.0.mlp.gate_proj.weight_scale</c>.</summary>
    public const string ScaleSuffix = "_scale";

    /// <summary>Every tensor of the packed body for <paramref name="config"/>, in file order.</summary>
    public static IReadOnlyList<(string Name, SafeTensorDType DType, long[] Shape)> Expected(BitLlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return [.. Each(config)];
    }

    static IEnumerable<(string Name, SafeTensorDType DType, long[] Shape)> Each(BitLlamaConfig config)
    {
        foreach (var (name, shape, ternary) in BitLlamaWeights.Expected(config))
        {
            if (ternary)
            {
                int rows = checked((int)shape[0]), cols = checked((int)shape[1]);
                yield return (name, SafeTensorDType.U8, [TernaryPacking.PadRows(rows), TernaryPacking.PadCols(cols) / 4]);
                yield return (name + ScaleSuffix, SafeTensorDType.F32, []);
            }
            else if (name == BitLlamaWeights.Embed)
            {
                yield return (name, SafeTensorDType.I8, shape);
                yield return (name + ScaleSuffix, SafeTensorDType.F32, [shape[0]]);
            }
            else if (name == BitLlamaWeights.LmHead)
            {
                long padded = Int8Rows.PadRows(checked((int)shape[0]));
                yield return (name, SafeTensorDType.I8, [padded, shape[1]]);
                yield return (name + ScaleSuffix, SafeTensorDType.F32, [padded]);
            }
            else yield return (name, SafeTensorDType.F32, shape);
        }
    }

    /// <summary>The size formula: bytes of tensor data in the packed body of <paramref name="config"/>.</summary>
    public static long DataBytes(BitLlamaConfig config) =>
        Expected(config).Sum(t => SafeTensorShapes.ElementCount(t.Shape) * SafeTensorShapes.ElementSize(t.DType));

    /// <summary>Checks that every tensor of <see cref="Expected"/> is present with its dtype and shape; names the first that is not.</summary>
    public static void Validate(SafeTensorsReader weights, BitLlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(weights);
        foreach (var (name, dtype, shape) in Each(config))
        {
            if (!weights.TryGet(name, out var info))
                throw BitLlamaFormatException.In(weights.FilePath, $"packed tensor '{name}' is missing (expected {dtype} {SafeTensorShapes.Format(shape)})");
            if (info.DType != dtype || !info.Shape.AsSpan().SequenceEqual(shape))
                throw BitLlamaFormatException.In(weights.FilePath,
                    $"packed tensor '{name}': expected {dtype} {SafeTensorShapes.Format(shape)}, found {info.DType} {SafeTensorShapes.Format(info.Shape)}");
        }
    }
}
