namespace BitTtt.Inference;

/// <summary>How the managed engine holds and runs a model.</summary>
public sealed record InferenceOptions
{
    /// <summary>
    /// Run the LM head on int8 rows with one scale per row (docs/model.md §3, "LM head precision") instead of the
    /// fp32 weights: a quarter of the bytes a decode step reads and about 3× faster, at a measured cost of well
    /// under 0.005 nats/token on validation text (docs/benchmarks.md, "Quantized LM head"). On by default; false keeps
    /// the fp32 head, and the logits then match the TorchSharp model to float rounding.
    /// </summary>
    public bool Int8LmHead { get; init; } = true;

    /// <summary>
    /// Decode the sessions of one model together: one forward step over every session that is generating, each with
    /// its own TTT state, so the weights are read once per step however many sessions run; prompts are fed in chunks
    /// between decode steps. A session's logits are bitwise the same either way. On by default; false steps each
    /// session on its own calling thread (or a thread-pool work item for the async calls), as before.
    /// </summary>
    public bool Batching { get; init; } = true;

    /// <summary>Bounds on what a loaded file may ask for (docs/format.md, "Limits"); null = <see cref="BitLlamaLoadLimits.Default"/>.</summary>
    public BitLlamaLoadLimits? Limits { get; init; }
}
