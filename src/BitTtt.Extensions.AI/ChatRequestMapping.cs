using BitTtt.Sampling;
using Microsoft.Extensions.AI;

namespace BitTtt.Extensions.AI;

/// <summary>ChatOptions and messages to the engine's terms, with errors in the ChatOptions' own names.</summary>
internal static class ChatRequestMapping
{
    /// <summary>The messages to feed (Instructions first, as a system turn); rejects empty content and turns with no user message.</summary>
    public static IReadOnlyList<ChatMessage> Messages(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        var list = new List<ChatMessage>();
        if (!string.IsNullOrWhiteSpace(options?.Instructions)) list.Add(new ChatMessage(ChatRole.System, options.Instructions));
        int i = 0;
        foreach (var m in messages)
        {
            if (m is null) throw new ArgumentException($"messages[{i}] is null", nameof(messages));
            if (string.IsNullOrWhiteSpace(m.Text))
                throw new ArgumentException($"messages[{i}] ({m.Role}) has no text content; every message needs text", nameof(messages));
            list.Add(m);
            i++;
        }
        if (!list.Any(m => m.Role == ChatRole.User))
            throw new ArgumentException(i == 0 ? "messages is empty; give at least one user message" : "messages has no user message; give at least one", nameof(messages));
        return list;
    }

    /// <summary>Sampling for one request: <paramref name="defaults"/> overridden by the options, plus the template's stop strings.</summary>
    public static SamplingOptions Sampling(ChatOptions? options, SamplingOptions defaults, IReadOnlyList<string> templateStops)
    {
        var s = defaults;
        if (options is not null)
        {
            if (options.MaxOutputTokens is { } max)
                s = s with { MaxTokens = max > 0 ? max : throw Bad(nameof(options.MaxOutputTokens), $"must be positive, got {max}") };
            if (options.Temperature is { } t)
                s = s with { Temperature = t >= 0 && float.IsFinite(t) ? t : throw Bad(nameof(options.Temperature), $"must be a finite number >= 0 (0 = greedy), got {t}") };
            if (options.TopP is { } p)
                s = s with { TopP = p > 0 && p <= 1 ? p : throw Bad(nameof(options.TopP), $"must be in (0, 1], got {p}") };
            if (options.TopK is { } k)
                s = s with { TopK = k >= 0 ? k : throw Bad(nameof(options.TopK), $"must be >= 0 (0 = no limit), got {k}") };
            if (options.Seed is { } seed)
                s = s with { Seed = seed is >= int.MinValue and <= int.MaxValue ? (int)seed : throw Bad(nameof(options.Seed), $"must fit in 32 bits, got {seed}") };
            if ((options.FrequencyPenalty ?? options.PresencePenalty) is { } penalty)
                s = s with { RepetitionPenalty = penalty > -1 && float.IsFinite(penalty) ? 1 + penalty : throw Bad(nameof(options.FrequencyPenalty), $"must be > -1 (it becomes the repetition penalty 1 + p), got {penalty}") };
        }
        var stops = new List<string>(s.StopStrings);
        stops.AddRange(templateStops);
        if (options?.StopSequences is { } extra)
            foreach (var stop in extra)
                stops.Add(!string.IsNullOrEmpty(stop) ? stop : throw Bad(nameof(options.StopSequences), "must not contain null or empty strings"));
        s = s with { StopStrings = stops.Distinct(StringComparer.Ordinal).ToArray() };
        s.Validate();
        return s;
    }

    static ArgumentException Bad(string option, string problem) => new($"ChatOptions.{option} {problem}", "options");
}
