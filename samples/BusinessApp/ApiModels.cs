using BitTtt.Inference;

namespace BitTtt.Samples.BusinessApp;

/// <summary>Limits on what one request may ask (configuration section "Api").</summary>
public sealed class ApiLimits
{
    public int MaxPromptChars { get; set; } = 8000;
    public int MaxTokensPerRequest { get; set; } = 512;
    /// <summary>Generation requests running at once; one more gets 429 (no queue).</summary>
    public int MaxConcurrentRequests { get; set; } = 8;
}

/// <summary>POST /v1/complete. The sampling fields (maxTokens, temperature, topK, topP, repetitionPenalty, seed, stopStrings) are <see cref="SamplingOverrides"/>; each one left out keeps the server's default.</summary>
public sealed class CompleteRequest : SamplingOverrides
{
    public string? Prompt { get; set; }
}

public sealed record CompleteResponse(string Text, int PromptTokens, int CompletionTokens, string FinishReason);

public sealed record ChatMessageDto(string? Role, string? Content);

/// <summary>POST /v1/chat, with the same sampling fields as <see cref="CompleteRequest"/>.</summary>
public sealed class ChatRequest : SamplingOverrides
{
    public string? ConversationId { get; set; }
    public List<ChatMessageDto?>? Messages { get; set; }
    public bool Stream { get; set; }
}

public sealed record ChatResponseDto(string? ConversationId, string Text, int PromptTokens, int CompletionTokens, string FinishReason);

/// <summary>Counters visible on /health: generations running now and text pieces generated since start.</summary>
public sealed class GenerationStats
{
    long _pieces;
    int _active;
    public long PiecesGenerated => Interlocked.Read(ref _pieces);
    public int ActiveGenerations => Volatile.Read(ref _active);
    internal void Piece() => Interlocked.Increment(ref _pieces);
    internal IDisposable Begin()
    {
        Interlocked.Increment(ref _active);
        return new Active(this);
    }

    sealed class Active(GenerationStats stats) : IDisposable
    {
        int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) Interlocked.Decrement(ref stats._active);
        }
    }
}

/// <summary>A request the API refuses, with the field to name in the problem details.</summary>
public sealed class ApiRequestException(int status, string field, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Field { get; } = field;
}
