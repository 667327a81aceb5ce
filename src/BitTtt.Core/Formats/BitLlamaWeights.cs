namespace BitTtt.Formats;

/// <summary>
/// The tensor names and shapes of a BitLlama model (docs/model.md §2). Shapes are [rows, cols]; linear weights
/// are [out, in]. Shape key (docs/model.md): V = vocab, D = hidden, d = D/4 (reconstruct inner width), H = delta heads,
/// F = H·dh (delta projection width), K = delta conv kernel, I = intermediate, L = layers.
/// </summary>
public static class BitLlamaWeights
{
    public const string Embed = "embed.weight", NormF = "norm_f.weight", LmHead = "lm_head.weight";

    /// <summary>Per-layer suffixes, in forward order.</summary>
    public const string Norm1 = "norm1.weight", TttDown = "ttt.down.weight", TttUp = "ttt.up.weight", Norm2 = "norm2.weight",
        GateProj = "mlp.gate_proj.weight", UpProj = "mlp.up_proj.weight", DownProj = "mlp.down_proj.weight";

    /// <summary>Per-layer suffixes of the delta TTT layer (docs/model.md §3b).</summary>
    public const string TttQProj = "ttt.q_proj.weight", TttKProj = "ttt.k_proj.weight", TttVProj = "ttt.v_proj.weight",
        TttOProj = "ttt.o_proj.weight", TttBetaWeight = "ttt.beta_proj.weight", TttBetaBias = "ttt.beta_proj.bias",
        TttQConv = "ttt.q_conv.weight", TttKConv = "ttt.k_conv.weight", TttVConv = "ttt.v_conv.weight";

    /// <summary><c>Layer(0, "ttt.down.weight") == "layers.0.ttt.down.weight"</c>.</summary>
    public static string Layer(int i, string suffix)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(i);
        ArgumentException.ThrowIfNullOrEmpty(suffix);
        return $"layers.{i}.{suffix}";
    }

    /// <summary>Every tensor the config calls for, in file order: embed, each layer, norm_f, lm_head.
    /// <c>IsTernary</c> marks BitLinear weights (quantized to {-1, 0, +1} in the forward pass).</summary>
    public static IReadOnlyList<(string Name, long[] Shape, bool IsTernary)> Expected(BitLlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return [.. Each(config)];
    }

    // Lazy, so a check stops at the first problem without a list sized by a hostile num_layers.
    static IEnumerable<(string Name, long[] Shape, bool IsTernary)> Each(BitLlamaConfig config)
    {
        long v = config.VocabSize, dModel = config.HiddenDim, d = config.TttDim, inner = config.IntermediateDim;
        long f = config.TttInnerDim, h = config.TttHeads, k = config.TttConv;
        yield return (Embed, [v, dModel], false);                                          // (V, D)
        for (int i = 0; i < config.NumLayers; i++)
        {
            yield return (Layer(i, Norm1), [dModel], false);                                   // (D)
            if (config.TttType == TttType.Delta)
            {
                yield return (Layer(i, TttQProj), [f, dModel], true);                          // (D) -> (F)
                yield return (Layer(i, TttKProj), [f, dModel], true);                          // (D) -> (F)
                yield return (Layer(i, TttVProj), [f, dModel], true);                          // (D) -> (F)
                yield return (Layer(i, TttOProj), [dModel, f], true);                          // (F) -> (D)
                yield return (Layer(i, TttBetaWeight), [h, dModel], false);                    // (D) -> (H)
                yield return (Layer(i, TttBetaBias), [h], false);                              // (H)
                if (k > 0)
                {
                    yield return (Layer(i, TttQConv), [f, k], false);                          // (F, K)
                    yield return (Layer(i, TttKConv), [f, k], false);                          // (F, K)
                    yield return (Layer(i, TttVConv), [f, k], false);                          // (F, K)
                }
            }
            else
            {
                yield return (Layer(i, TttDown), [d, dModel], true);                           // (D) -> (d)
                yield return (Layer(i, TttUp), [dModel, d], true);                             // (d) -> (D)
            }
            yield return (Layer(i, Norm2), [dModel], false);                                   // (D)
            yield return (Layer(i, GateProj), [inner, dModel], true);                          // (D) -> (I)
            yield return (Layer(i, UpProj), [inner, dModel], true);                            // (D) -> (I)
            yield return (Layer(i, DownProj), [dModel, inner], true);                          // (I) -> (D)
        }
        yield return (NormF, [dModel], false);                                                 // (D)
        yield return (LmHead, [v, dModel], false);                                             // (D) -> (V)
    }

    /// <summary>Checks that every expected tensor is present with its shape; extra tensors are allowed. Stops
    /// at the first problem without listing the rest, so a num_layers of 2^30 costs nothing.
    /// Throws <see cref="BitLlamaFormatException"/>: "tensor 'layers.1.norm2.weight' is missing (expected shape [64])".</summary>
    public static void Validate(SafeTensorsReader weights, BitLlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(config);
        string? problem = FindProblem(name => weights.TryGet(name, out var info) ? info.Shape : null, config);
        if (problem is not null) throw BitLlamaFormatException.In(weights.FilePath, problem);
    }

    /// <summary>The same check for tensors about to be written; throws <see cref="ArgumentException"/>.</summary>
    internal static void ValidateForWrite(IReadOnlyList<SafeTensorData> tensors, BitLlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var t in tensors) shapes.TryAdd(t.Name, t.Shape);
        string? problem = FindProblem(name => shapes.GetValueOrDefault(name), config);
        if (problem is not null) throw new ArgumentException(problem, nameof(tensors));
    }

    static string? FindProblem(Func<string, long[]?> shapeOf, BitLlamaConfig config)
    {
        foreach (var (name, expected, _) in Each(config))
        {
            var found = shapeOf(name);
            if (found is null)
                return $"tensor '{name}' is missing (expected shape {SafeTensorShapes.Format(expected)})";
            if (!found.AsSpan().SequenceEqual(expected))
                return $"tensor '{name}': expected shape {SafeTensorShapes.Format(expected)}, found {SafeTensorShapes.Format(found)}";
        }
        return null;
    }
}
