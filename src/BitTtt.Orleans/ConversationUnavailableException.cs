namespace BitTtt.Orleans;

/// <summary>
/// The cluster could not serve a conversation now: its grain storage is unreachable, the silo holding it is gone and
/// no other took over within <see cref="BitLlamaClusterChatClientOptions.FailoverTimeout"/>, or the turn's memory could
/// not be written. Nothing of the failed call is kept; the same call can be retried later (a web app answers 503).
/// </summary>
public sealed class ConversationUnavailableException(string? conversationId, string message, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The conversation the call was for; null for a call that was starting one.</summary>
    public string? ConversationId { get; } = conversationId;
}
