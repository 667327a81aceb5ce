namespace BitTtt.Orleans;

/// <summary>
/// One conversation, keyed by its ConversationId: a <see cref="BitTtt.Inference.LlamaSession"/> on the silo's model
/// whose memory is written to grain storage after every turn, before the turn's last update leaves the grain.
/// Callers use <see cref="BitLlamaClusterChatClient"/>; the messages cross as <see cref="ConversationTurn"/>.
/// </summary>
[Alias("bitllama.IConversationGrain")]
internal interface IConversationGrain : IGrainWithStringKey
{
    /// <summary>Runs a whole turn; the reply is persisted before it returns (<see cref="ConversationUpdate.Final"/> set).</summary>
    [Alias("Send")]
    Task<ConversationUpdate> SendAsync(ConversationTurn turn, CancellationToken cancellationToken = default);

    /// <summary>
    /// Streams a turn: pieces of text, then one final update sent only after the memory is persisted. A refused turn
    /// (busy, unknown, invalid, storage down) is one update whose <see cref="ConversationUpdate.Status"/> says why.
    /// </summary>
    [Alias("Stream")]
    IAsyncEnumerable<ConversationUpdate> StreamAsync(ConversationTurn turn, CancellationToken cancellationToken = default);

    /// <summary>Empties the memory (persisted); the id stays valid.</summary>
    [Alias("Reset")]
    Task<ConversationStatus> ResetAsync();
}

/// <summary>Why a grain refused a turn, or <see cref="Ok"/>.</summary>
[GenerateSerializer, Alias("bitllama.ConversationStatus")]
internal enum ConversationStatus
{
    Ok,
    /// <summary>No conversation with this id is stored (never started, or its storage entry is gone).</summary>
    NotFound,
    /// <summary>The conversation is answering another call.</summary>
    Busy,
    /// <summary>A message or option is invalid; <see cref="ConversationUpdate.Error"/> and <see cref="ConversationUpdate.ErrorParameter"/> say which.</summary>
    Invalid,
    /// <summary>The turn could not be persisted (storage unreachable, or a newer write by another activation); nothing of it is kept.</summary>
    Unavailable,
}

/// <summary>One chat call as it crosses to the grain: the new messages and the ChatOptions that map to the engine.</summary>
[GenerateSerializer, Immutable, Alias("bitllama.ConversationTurn")]
internal sealed class ConversationTurn
{
    /// <summary>Names the call: a retry with the same id after a lost reply gets the stored reply instead of a second turn.</summary>
    [Id(0)] public required string TurnId { get; init; }
    /// <summary>True for the first turn of a conversation whose id the caller has just chosen.</summary>
    [Id(1)] public bool Start { get; init; }
    /// <summary>False: a one-off call whose memory is dropped afterwards (nothing is stored).</summary>
    [Id(2)] public bool Keep { get; init; } = true;
    [Id(3)] public required IReadOnlyList<ConversationMessage> Messages { get; init; }
    [Id(4)] public string? Instructions { get; init; }
    [Id(5)] public int? MaxOutputTokens { get; init; }
    [Id(6)] public float? Temperature { get; init; }
    [Id(7)] public float? TopP { get; init; }
    [Id(8)] public int? TopK { get; init; }
    [Id(9)] public float? FrequencyPenalty { get; init; }
    [Id(10)] public float? PresencePenalty { get; init; }
    [Id(11)] public long? Seed { get; init; }
    [Id(12)] public IReadOnlyList<string>? StopSequences { get; init; }
}

/// <summary>A chat message's role (system, user, assistant or another the template may reject) and text.</summary>
[GenerateSerializer, Immutable, Alias("bitllama.ConversationMessage")]
internal sealed record ConversationMessage([property: Id(0)] string Role, [property: Id(1)] string Text);

/// <summary>A piece of a reply, the final update of a turn (finish reason and token counts), or a refusal.</summary>
[GenerateSerializer, Immutable, Alias("bitllama.ConversationUpdate")]
internal sealed class ConversationUpdate
{
    [Id(0)] public ConversationStatus Status { get; init; }
    [Id(1)] public string Text { get; init; } = "";
    /// <summary>The turn's last update, sent once its memory is persisted.</summary>
    [Id(2)] public bool Final { get; init; }
    /// <summary>"stop" or "length" on the final update.</summary>
    [Id(3)] public string? FinishReason { get; init; }
    [Id(4)] public int PromptTokens { get; init; }
    [Id(5)] public int CompletionTokens { get; init; }
    [Id(6)] public string? ModelId { get; init; }
    [Id(7)] public string? Error { get; init; }
    [Id(8)] public string? ErrorParameter { get; init; }
    /// <summary>Of <see cref="PromptTokens"/>, those restored from the model's prefix cache instead of fed.</summary>
    [Id(9)] public int CachedPromptTokens { get; init; }

    internal static ConversationUpdate Refused(ConversationStatus status, string error, string? parameter = null) =>
        new() { Status = status, Error = error, ErrorParameter = parameter, Final = true };
}
