using System.Runtime.CompilerServices;
using BitTtt.Inference;
using BitTtt.Tokenization;
using Microsoft.Extensions.AI;

namespace BitTtt.Extensions.AI;

/// <summary>
/// <see cref="IChatClient"/> over a loaded BitLlama. Messages become the model's prompt through
/// <see cref="LlamaSession.Reply"/> (its stored chat template, docs/model.md §6, or the plain-text format), or through
/// an <see cref="IChatTemplate"/> the options give;
/// the conversation's memory is the model's TTT state, kept per <see cref="ChatOptions.ConversationId"/>:
/// <list type="bullet">
/// <item>No ConversationId: the call starts from an empty memory. With <see cref="BitLlamaChatClientOptions.StartConversations"/>
/// (default), or <see cref="StartConversationKey"/> true in the call's <see cref="ChatOptions.AdditionalProperties"/>,
/// that memory is kept as a new conversation whose id the response carries; pass it back with only the new messages to
/// continue. Otherwise the memory is dropped after the call (a one-shot chat takes no conversation slot; with the
/// model's <see cref="Llama.PrefixCache"/> a client that resends the history feeds only what is new).</item>
/// <item>A ConversationId from an earlier response: only the messages given are fed (the earlier turns and replies
/// are already in the memory). An unknown or evicted id throws <see cref="ConversationNotFoundException"/>.</item>
/// </list>
/// ChatOptions mapping, over <see cref="BitLlamaChatClientOptions.Defaults"/> (null: the model's <see cref="Llama.DefaultSampling"/>):
/// Temperature, TopP, TopK, MaxOutputTokens (MaxTokens), Seed and StopSequences as named; FrequencyPenalty
/// (or else PresencePenalty) p becomes the repetition penalty 1 + p; Instructions become a system turn. ModelId,
/// Tools, ToolMode, ResponseFormat and the other options are ignored (one model, no tool calling).
/// Calls on different conversations run in parallel; two overlapping calls on one conversation: the second throws
/// <see cref="InvalidOperationException"/>.
/// </summary>
public sealed class BitLlamaChatClient : IChatClient, IBitLlamaConversations
{
    /// <summary>The provider name in <see cref="ChatClientMetadata"/>.</summary>
    public const string ProviderName = "bitllama";

    /// <summary>
    /// A <see cref="ChatOptions.AdditionalProperties"/> key: a bool that, for a call without ConversationId, says whether
    /// to keep its memory as a new conversation (true) or drop it (false), whatever
    /// <see cref="BitLlamaChatClientOptions.StartConversations"/> says.
    /// </summary>
    public const string StartConversationKey = "bitllama.start_conversation";

    readonly BitLlamaChatClientOptions _options;
    readonly ConversationStore _store;

    public BitLlamaChatClient(Llama model, BitLlamaChatClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ObjectDisposedException.ThrowIf(model.IsDisposed, model);
        _options = options ?? new BitLlamaChatClientOptions();
        _options.Validate();
        Model = model;
        _store = new ConversationStore(model, _options.MaxConversations, _options.MemoryDirectory);
        string modelId = _options.ModelId ?? (model.SourcePath is { } p ? Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(p)) : "bitllama");
        Metadata = new ChatClientMetadata(ProviderName, null, modelId);
    }

    public Llama Model { get; }
    public ChatClientMetadata Metadata { get; }
    /// <summary>Conversations currently held in memory (at most <see cref="BitLlamaChatClientOptions.MaxConversations"/> while none is running).</summary>
    public int LiveConversations => _store.LiveCount;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var turn = Begin(messages, options);
        try
        {
            var result = await turn.Feed.RunAsync(turn.Session, cancellationToken).ConfigureAwait(false);
            return new ChatResponse(new ChatMessage(ChatRole.Assistant, result.Text) { MessageId = turn.ResponseId })
            {
                ResponseId = turn.ResponseId,
                ConversationId = turn.ConversationId,
                ModelId = Metadata.DefaultModelId,
                CreatedAt = DateTimeOffset.UtcNow,
                FinishReason = Finish(result.FinishReason),
                Usage = Usage(result.PromptTokens, result.CachedPromptTokens, result.CompletionTokens),
            };
        }
        finally { End(turn); }
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var turn = Begin(messages, options);
        try
        {
            await foreach (var u in turn.Feed.RunStreamingAsync(turn.Session, cancellationToken).ConfigureAwait(false))
            {
                var update = new ChatResponseUpdate(ChatRole.Assistant, u.Text)
                {
                    ResponseId = turn.ResponseId,
                    MessageId = turn.ResponseId,
                    ConversationId = turn.ConversationId,
                    ModelId = Metadata.DefaultModelId,
                };
                if (u.FinishReason is { } reason)
                {
                    update.FinishReason = Finish(reason);
                    update.Contents.Add(new UsageContent(Usage(u.PromptTokens, u.CachedPromptTokens, u.CompletionTokens)));
                }
                yield return update;
            }
        }
        finally { End(turn); }
    }

    /// <summary>
    /// What a call with these messages and options feeds the model: the messages (Instructions first as a system turn),
    /// the prompt text of <see cref="BitLlamaChatClientOptions.Template"/> when one is set (else null: the model's own
    /// chat format), and the sampling settings (the options over <see cref="BitLlamaChatClientOptions.Defaults"/>, with a
    /// set template's stop strings). Every call of this client goes through it and runs the result with
    /// <see cref="BitLlamaChatTurn.RunAsync"/>, and so do the conversation grains of BitTtt.Orleans, so one process and a
    /// cluster format, stop and sample alike. Throws <see cref="ArgumentException"/> naming the message or ChatOptions
    /// property that is invalid.
    /// </summary>
    public BitLlamaChatTurn PrepareTurn(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = ChatRequestMapping.Messages(messages, options);
        var template = _options.Template;
        var sampling = ChatRequestMapping.Sampling(options, _options.Defaults ?? Model.DefaultSampling, template?.StopSequences ?? []);
        return new BitLlamaChatTurn(ChatRequestMapping.Turns(list), template?.Format(list), sampling);
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless <paramref name="conversationId"/> is 1-128 characters of A-Z, a-z,
    /// 0-9, '-' or '_' (the ids this client hands out are 32 hex digits).
    /// </summary>
    public static void ValidateConversationId(string conversationId)
    {
        if (string.IsNullOrEmpty(conversationId) || conversationId.Length > 128 || !conversationId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            throw new ArgumentException($"ConversationId '{conversationId}' is not valid: expected 1-128 characters of A-Z, a-z, 0-9, '-' or '_'", "options");
    }

    /// <summary>
    /// Whether a call without ConversationId keeps its memory as a new conversation: <see cref="StartConversationKey"/> in
    /// the call's <see cref="ChatOptions.AdditionalProperties"/> when it is there, otherwise <paramref name="byDefault"/>
    /// (the client's StartConversations). The one rule for every client of conversations (the cluster's too).
    /// </summary>
    public static bool StartsConversation(ChatOptions? options, bool byDefault) =>
        options?.AdditionalProperties?.TryGetValue(StartConversationKey, out bool asked) == true ? asked : byDefault;

    /// <summary>Starts an empty conversation and returns its id (what a first call without ConversationId does).</summary>
    public string StartConversation()
    {
        var entry = _store.Start();
        _store.Return(entry);
        return entry.Id;
    }

    /// <summary>Empties a conversation's memory; the id stays valid. False if the id is unknown.</summary>
    public bool ResetConversation(string conversationId) => _store.Reset(conversationId);

    /// <summary>Writes a conversation's memory to a file (load it into a session with <see cref="LlamaSession.LoadMemory(string, BitLlamaLoadLimits?)"/>).</summary>
    public void SaveMemory(string conversationId, string path) => _store.SaveMemory(conversationId, path);

    Task<bool> IBitLlamaConversations.ResetConversationAsync(string conversationId, CancellationToken cancellationToken) =>
        Task.FromResult(ResetConversation(conversationId));

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return Metadata;
        if (serviceType == typeof(Llama)) return Model;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose()
    {
        _store.Dispose();
        if (_options.OwnsModel) Model.Dispose();
    }

    /// <summary>One call: what it feeds, on which session.</summary>
    sealed record Turn(BitLlamaChatTurn Feed, LlamaSession Session, ConversationStore.Entry? Entry, string? ConversationId, string ResponseId);

    /// <summary>Validates everything, then takes the conversation's session (or a fresh one).</summary>
    Turn Begin(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ObjectDisposedException.ThrowIf(Model.IsDisposed, Model);
        var feed = PrepareTurn(messages, options);
        string responseId = Guid.NewGuid().ToString("N");
        if (options?.ConversationId is { } id)
        {
            var entry = _store.Rent(id);
            return new Turn(feed, entry.Session, entry, id, responseId);
        }
        if (StartsConversation(options, _options.StartConversations))
        {
            var entry = _store.Start();
            return new Turn(feed, entry.Session, entry, entry.Id, responseId);
        }
        return new Turn(feed, Model.CreateSession(), null, null, responseId);
    }

    void End(Turn turn)
    {
        if (turn.Entry is null) turn.Session.Dispose();
        else _store.Return(turn.Entry);
    }

    static ChatFinishReason Finish(LlamaFinishReason reason) => reason == LlamaFinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop;

    static UsageDetails Usage(int input, int cached, int output) =>
        new() { InputTokenCount = input, CachedInputTokenCount = cached, OutputTokenCount = output, TotalTokenCount = input + output };
}
