namespace BitTtt.Samples.BusinessApp;

/// <summary>Limits on what one request may ask (configuration section "Api").</summary>
public sealed class ApiLimits
{
    public int MaxPromptChars { get; set; } = 8000;
    public int MaxTokensPerRequest { get; set; } = 512;
    /// <summary>Generation requests running at once; one more gets 429 (no queue).</summary>
    public int MaxConcurrentRequests { get; set; } = 8;
}

public sealed record CompleteRequest(string? Prompt, int? MaxTokens, float? Temperature, int? Seed);

public sealed record CompleteResponse(string Text, int PromptTokens, int CompletionTokens, string FinishReason);

public sealed record ChatMessageDto(string? Role, string? Content);

public sealed record ChatRequest(string? ConversationId, List<ChatMessageDto?>? Messages, int? MaxTokens, float? Temperature, int? Seed, bool Stream);

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
