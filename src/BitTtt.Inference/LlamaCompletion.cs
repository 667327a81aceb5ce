namespace BitTtt.Inference;

/// <summary>Why a completion ended.</summary>
public enum LlamaFinishReason
{
    /// <summary>The model emitted its end-of-sequence token.</summary>
    EndOfSequence,
    /// <summary>One of <see cref="SamplingOptions.StopStrings"/> appeared (it is not part of the text).</summary>
    StopString,
    /// <summary><see cref="SamplingOptions.MaxTokens"/> tokens were generated.</summary>
    Length,
    /// <summary>The model ended its turn: it generated its chat template's end-of-turn token (docs/model.md §6.3).</summary>
    EndOfTurn,
}

/// <summary>A finished completion: the text and what it cost.</summary>
/// <param name="Text">The generated text (stop strings excluded).</param>
/// <param name="PromptTokens">Tokens of the prompt fed into the memory.</param>
/// <param name="CompletionTokens">Tokens sampled (and fed back), the end-of-sequence or end-of-turn token not counted.</param>
/// <param name="FinishReason">Why generation ended.</param>
public sealed record LlamaCompletion(string Text, int PromptTokens, int CompletionTokens, LlamaFinishReason FinishReason)
{
    /// <summary>Tokens of the prompt restored from the model's <see cref="Llama.PrefixCache"/> instead of fed (part of <see cref="PromptTokens"/>).</summary>
    public int CachedPromptTokens { get; init; }
}

/// <summary>
/// One piece of a streamed completion. Every piece but the last has text (whole UTF-8 characters) and no
/// <see cref="FinishReason"/>; the last has the finish reason and may have empty text.
/// </summary>
public sealed record LlamaCompletionUpdate(string Text, int PromptTokens, int CompletionTokens, LlamaFinishReason? FinishReason)
{
    /// <summary>On the last update: tokens of the prompt restored from the prefix cache (see <see cref="LlamaCompletion.CachedPromptTokens"/>).</summary>
    public int CachedPromptTokens { get; init; }
}
