using BitTtt.Inference;

namespace BitTtt.Samples.BusinessApp;

/// <summary>Limits on what one request may ask, and how the app stops and logs (configuration section "Api").</summary>
public sealed class ApiLimits
{
    public const string SectionName = "Api";

    public int MaxPromptChars { get; set; } = 8000;
    public int MaxTokensPerRequest { get; set; } = 512;
    /// <summary>Generation requests running at once; one more gets 429 (no queue).</summary>
    public int MaxConcurrentRequests { get; set; } = 8;
    /// <summary>Largest request body (Kestrel's <c>MaxRequestBodySize</c>); a larger one gets 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 1 << 20;
    /// <summary>
    /// On SIGTERM (or any stop), how long running generations may go on before they are cancelled; each stream then ends
    /// with a final event saying so. The host's shutdown timeout is this plus <see cref="GenerationShutdown.FinalEventsTime"/>.
    /// </summary>
    public TimeSpan ShutdownGracePeriod { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Log prompt and completion text (off: logs carry token counts, ids and timings only).</summary>
    public bool LogContent { get; set; }

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the first invalid setting by its configuration key.</summary>
    public void Validate()
    {
        static void Positive(string key, long value)
        {
            if (value <= 0) throw new InvalidOperationException($"{SectionName}:{key} must be positive, got {value}");
        }
        Positive(nameof(MaxPromptChars), MaxPromptChars);
        Positive(nameof(MaxTokensPerRequest), MaxTokensPerRequest);
        Positive(nameof(MaxConcurrentRequests), MaxConcurrentRequests);
        Positive(nameof(MaxRequestBodyBytes), MaxRequestBodyBytes);
        if (ShutdownGracePeriod < TimeSpan.Zero)
            throw new InvalidOperationException($"{SectionName}:{nameof(ShutdownGracePeriod)} must not be negative, got {ShutdownGracePeriod}");
    }
}

/// <summary>POST /v1/complete. The sampling fields (maxTokens, temperature, topK, topP, repetitionPenalty, seed, stopStrings) are <see cref="SamplingOverrides"/>; each one left out keeps the server's default.</summary>
public sealed class CompleteRequest : SamplingOverrides
{
    public string? Prompt { get; set; }
}

public sealed record CompleteResponse(string Text, int PromptTokens, int CompletionTokens, string FinishReason);

public sealed record ChatMessageDto(string? Role, string? Content);

/// <summary>
/// POST /v1/chat, with the same sampling fields as <see cref="CompleteRequest"/>. Without <see cref="ConversationId"/>
/// the chat is one-shot (its memory is dropped, it takes no conversation slot) unless <see cref="StartConversation"/>
/// asks to keep it as a new conversation, whose id the response carries.
/// </summary>
public sealed class ChatRequest : SamplingOverrides
{
    public string? ConversationId { get; set; }
    public bool StartConversation { get; set; }
    public List<ChatMessageDto?>? Messages { get; set; }
    public bool Stream { get; set; }
}

public sealed record ChatResponseDto(string? ConversationId, string Text, int PromptTokens, int CompletionTokens, string FinishReason);

/// <summary>A request the API refuses, with the field to name in the problem details.</summary>
public sealed class ApiRequestException(int status, string field, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Field { get; } = field;
}
