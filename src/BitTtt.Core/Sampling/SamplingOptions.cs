namespace BitTtt.Sampling;

/// <summary>
/// How the next token is chosen (docs/model.md §3 Generation). <see cref="Temperature"/> 0 is greedy;
/// <see cref="TopK"/> 0 and <see cref="TopP"/> 1 disable those filters; the same <see cref="Seed"/>
/// gives the same text.
/// </summary>
public sealed record SamplingOptions
{
    public int MaxTokens { get; init; } = 128;
    public float Temperature { get; init; } = 0.8f;
    public int TopK { get; init; } = 40;
    public float TopP { get; init; } = 0.95f;
    /// <summary>Logits of tokens already in the context are divided (if positive) or multiplied (if negative) by this; 1 disables it.</summary>
    public float RepetitionPenalty { get; init; } = 1.1f;
    /// <summary>Seed of the sampler's random numbers; null picks a fresh one per completion.</summary>
    public int? Seed { get; init; }
    /// <summary>Generation stops before the first occurrence of any of these; they are not emitted.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>Greedy decoding (temperature 0) with no repetition penalty.</summary>
    public static SamplingOptions Greedy(int maxTokens = 128) => new() { MaxTokens = maxTokens, Temperature = 0, RepetitionPenalty = 1f };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (MaxTokens <= 0)
            throw new ArgumentException($"MaxTokens must be positive, got {MaxTokens}", nameof(MaxTokens));
        if (!(Temperature >= 0) || float.IsInfinity(Temperature))
            throw new ArgumentException($"Temperature must be a finite number >= 0 (0 = greedy), got {Temperature}", nameof(Temperature));
        if (TopK < 0)
            throw new ArgumentException($"TopK must be >= 0 (0 = no limit), got {TopK}", nameof(TopK));
        if (!(TopP > 0 && TopP <= 1))
            throw new ArgumentException($"TopP must be in (0, 1], got {TopP}", nameof(TopP));
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty))
            throw new ArgumentException($"RepetitionPenalty must be a finite number > 0 (1 = off), got {RepetitionPenalty}", nameof(RepetitionPenalty));
        if (StopStrings is null || StopStrings.Any(string.IsNullOrEmpty))
            throw new ArgumentException("StopStrings must not contain null or empty strings", nameof(StopStrings));
    }
}
