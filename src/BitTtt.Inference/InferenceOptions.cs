namespace BitTtt.Inference;

/// <summary>How the managed engine holds a model. The defaults follow docs/model.md exactly.</summary>
public sealed record InferenceOptions
{
    /// <summary>
    /// Keep an int8 copy of the LM head (one scale per row) instead of fp32: a quarter of the bytes a
    /// decode step streams, so decode is up to ~2× faster on a memory-bound machine, but logits move by
    /// ~1e-2 (docs/model.md §3 says full precision; docs/benchmarks.md has the measurement). Off by default.
    /// </summary>
    public bool Int8LmHead { get; init; }

    /// <summary>Bounds on what a loaded file may ask for (docs/format.md, "Limits"); null = <see cref="BitLlamaLoadLimits.Default"/>.</summary>
    public BitLlamaLoadLimits? Limits { get; init; }
}
