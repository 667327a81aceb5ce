using BitTtt.Inference;
using BitTtt.Tokenization;
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

    /// <summary>
    /// The messages as the model's chat turns (role and text). Roles other than system, user and assistant are
    /// rejected here, before anything is fed.
    /// </summary>
    public static IReadOnlyList<ChatTurn> Turns(IReadOnlyList<ChatMessage> messages)
    {
        var turns = new ChatTurn[messages.Count];
        for (int i = 0; i < messages.Count; i++)
        {
            string role = messages[i].Role.Value;
            if (!ChatTurn.Roles.Contains(role))
                throw new ArgumentException($"messages: role '{role}' is not supported (expected system, user or assistant)", nameof(messages));
            turns[i] = new ChatTurn(role, messages[i].Text);
        }
        return turns;
    }

    /// <summary>
    /// Sampling for one request: <paramref name="defaults"/> overridden by the options, plus the template's stop strings.
    /// The values are checked by <see cref="SamplingOptions"/>' rules; an error names the ChatOptions property it came from.
    /// </summary>
    public static SamplingOptions Sampling(ChatOptions? options, SamplingOptions defaults, IReadOnlyList<string> templateStops)
    {
        var overrides = new SamplingOverrides
        {
            MaxTokens = options?.MaxOutputTokens,
            Temperature = options?.Temperature,
            TopK = options?.TopK,
            TopP = options?.TopP,
            // The one penalty of the engine: p (frequency, else presence) becomes the repetition penalty 1 + p.
            RepetitionPenalty = (options?.FrequencyPenalty ?? options?.PresencePenalty) is { } p ? 1 + p : null,
            Seed = options?.Seed is { } seed
                ? seed is >= int.MinValue and <= int.MaxValue ? (int)seed : throw Bad(nameof(ChatOptions.Seed), $"must fit in 32 bits, got {seed}")
                : null,
        };
        var stops = new List<string>(defaults.StopStrings);
        stops.AddRange(templateStops);
        if (options?.StopSequences is { } extra) stops.AddRange(extra);
        overrides.StopStrings = stops.Distinct(StringComparer.Ordinal).ToArray();
        var sampling = defaults.With(overrides);
        try { sampling.Validate(); }
        catch (OptionException e)
        {
            throw Bad(ChatName(e.Option, options), e.Option == nameof(SamplingOptions.RepetitionPenalty)
                ? $"gives the repetition penalty 1 + p, which {e.Problem}" : e.Problem);
        }
        return sampling;
    }

    /// <summary>The ChatOptions property a sampling option comes from.</summary>
    static string ChatName(string option, ChatOptions? options) => option switch
    {
        nameof(SamplingOptions.MaxTokens) => nameof(ChatOptions.MaxOutputTokens),
        nameof(SamplingOptions.RepetitionPenalty) => options?.FrequencyPenalty is not null || options?.PresencePenalty is null
            ? nameof(ChatOptions.FrequencyPenalty) : nameof(ChatOptions.PresencePenalty),
        nameof(SamplingOptions.StopStrings) => nameof(ChatOptions.StopSequences),
        _ => option,
    };

    static ArgumentException Bad(string option, string problem) => new($"ChatOptions.{option} {problem}", "options");
}
