using BitTtt.Inference;

namespace BitTtt.Extensions.AI;

/// <summary>How a <see cref="BitLlamaChatClient"/> formats, samples and keeps conversations.</summary>
public sealed record BitLlamaChatClientOptions
{
    /// <summary>
    /// Sampling used where a request's <c>ChatOptions</c> says nothing (the template's stop strings are always added).
    /// Null: the model's <see cref="Llama.DefaultSampling"/> (the defaults its file stores, else the library's).
    /// </summary>
    public SamplingOptions? Defaults { get; init; }

    /// <summary>
    /// Null (the default): the model's own chat format, <see cref="LlamaSession.Reply"/> — its stored template
    /// (docs/model.md §6) when it has one, which stops each reply at the end-of-turn token, else the plain-text format
    /// of <see cref="PlainTextChatTemplate"/>. Set a template only for a model trained on another text format.
    /// </summary>
    public IChatTemplate? Template { get; init; }

    /// <summary>Most conversations kept live (one TTT session each); the least recently used is evicted beyond it.</summary>
    public int MaxConversations { get; init; } = 64;

    /// <summary>
    /// Where evicted conversations' memories are written (<c>{id}.bttm</c>) and read back on their next turn.
    /// Null: an evicted conversation is gone, and its id is then rejected as unknown.
    /// </summary>
    public string? MemoryDirectory { get; init; }

    /// <summary>
    /// A call without ConversationId keeps its memory as a new conversation and returns the id (true, default);
    /// false drops it after the call (for callers that always send the whole history and never an id).
    /// </summary>
    public bool StartConversations { get; init; } = true;

    /// <summary>Reported as the model id; null takes the model file's name.</summary>
    public string? ModelId { get; init; }

    /// <summary>Dispose the model with the client (true when the client loaded it).</summary>
    public bool OwnsModel { get; init; }

    /// <summary>Throws an <see cref="OptionException"/> naming the first invalid option (a sampling one by its <see cref="SamplingOptions"/> name).</summary>
    internal void Validate()
    {
        Defaults?.Validate();
        if (MaxConversations <= 0)
            throw new OptionException(nameof(MaxConversations), $"must be positive, got {MaxConversations}");
    }
}
