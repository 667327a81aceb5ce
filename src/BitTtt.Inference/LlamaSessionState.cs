using BitTtt.Inference.Engine;

namespace BitTtt.Inference;

/// <summary>
/// An in-memory copy of everything a <see cref="LlamaSession"/>'s next call depends on: the TTT memory (the arrays a
/// memory file holds), the position, the logits of the last token fed and the recent tokens the repetition penalty
/// looks at. <see cref="LlamaSession.CaptureState"/> makes one; <see cref="LlamaSession.RestoreState"/> puts it into
/// any session of the same model, which then continues exactly as the captured session would have. Immutable; one
/// state may be restored into many sessions, from many threads.
/// </summary>
public sealed class LlamaSessionState
{
    readonly float[][] _memory;   // the engine's arrays: W, G per layer (reconstruct) or S (by columns), conv tails (delta)
    readonly float[]? _logits;    // (V), null when nothing has been fed since the last reset or load
    readonly int[] _recent;       // the last (up to) RepetitionWindow tokens, oldest first

    internal LlamaSessionState(InferenceWeights weights, float[][] memory, long position, float[]? logits, int[] recent)
    {
        Weights = weights;
        _memory = memory;
        Position = position;
        _logits = logits;
        _recent = recent;
        SizeInBytes = memory.Sum(a => (long)a.Length * sizeof(float)) + (logits?.LongLength ?? 0) * sizeof(float) + (long)recent.Length * sizeof(int);
    }

    /// <summary>Tokens the memory had consumed when the state was captured.</summary>
    public long Position { get; }

    /// <summary>Bytes the copy holds (memory arrays, logits and recent tokens), for bounding caches.</summary>
    public long SizeInBytes { get; }

    internal InferenceWeights Weights { get; }
    internal IReadOnlyList<float[]> Memory => _memory;
    internal ReadOnlySpan<float> Logits => _logits;
    internal bool HasLogits => _logits is not null;
    internal ReadOnlySpan<int> Recent => _recent;
}
