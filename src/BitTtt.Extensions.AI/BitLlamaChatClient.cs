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
/// (default) that memory is kept as a new conversation whose id the response carries; pass it back with only the
/// new messages to continue. Without it the memory is dropped after the call.</item>
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
public sealed class BitLlamaChatClient : IChatClient
{
    /// <summary>The provider name in <see cref="ChatClientMetadata"/>.</summary>
    public const string ProviderName = "bitllama";

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
            var result = await (turn.Prompt is { } prompt
                ? turn.Session.GenerateAsync(prompt, turn.Sampling, cancellationToken)
                : turn.Session.ReplyAsync(turn.Messages, turn.Sampling, cancellationToken)).ConfigureAwait(false);
            return new ChatResponse(new ChatMessage(ChatRole.Assistant, result.Text) { MessageId = turn.ResponseId })
            {
                ResponseId = turn.ResponseId,
                ConversationId = turn.ConversationId,
                ModelId = Metadata.DefaultModelId,
                CreatedAt = DateTimeOffset.UtcNow,
                FinishReason = Finish(result.FinishReason),
                Usage = Usage(result.PromptTokens, result.CompletionTokens),
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
            var updates = turn.Prompt is { } prompt
                ? turn.Session.GenerateStreamingAsync(prompt, turn.Sampling, cancellationToken)
                : turn.Session.ReplyStreamingAsync(turn.Messages, turn.Sampling, cancellationToken);
            await foreach (var u in updates.ConfigureAwait(false))
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
                    update.Contents.Add(new UsageContent(Usage(u.PromptTokens, u.CompletionTokens)));
                }
                yield return update;
            }
        }
        finally { End(turn); }
    }

    /// <summary>Starts an empty conversation and returns its id (what a first call without ConversationId does).</summary>
    public string StartConversation()
    {
        var entry = _store.Start();
        _store.Return(entry);
        return entry.Id;
    }

    /// <summary>Empties a conversation's memory; the id stays valid. False if the id is unknown.</summary>
    public bool ResetConversation(string conversationId) => _store.Reset(conversationId);

    /// <summary>Writes a conversation's memory to a file (load it into a session with <see cref="LlamaSession.LoadMemory"/>).</summary>
    public void SaveMemory(string conversationId, string path) => _store.SaveMemory(conversationId, path);

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

    /// <summary>One call: the messages for the model's own format (<see cref="LlamaSession.Reply"/>), or the prompt text of a caller's template.</summary>
    sealed record Turn(IReadOnlyList<ChatTurn> Messages, string? Prompt, SamplingOptions Sampling, LlamaSession Session, ConversationStore.Entry? Entry,
        string? ConversationId, string ResponseId);

    /// <summary>Validates everything, then takes the conversation's session (or a fresh one).</summary>
    Turn Begin(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ObjectDisposedException.ThrowIf(Model.IsDisposed, Model);
        var list = ChatRequestMapping.Messages(messages, options);
        var template = _options.Template;
        var sampling = ChatRequestMapping.Sampling(options, _options.Defaults ?? Model.DefaultSampling, template?.StopSequences ?? []);
        var turns = ChatRequestMapping.Turns(list);
        string? prompt = template?.Format(list);
        string responseId = Guid.NewGuid().ToString("N");
        if (options?.ConversationId is { } id)
        {
            var entry = _store.Rent(id);
            return new Turn(turns, prompt, sampling, entry.Session, entry, id, responseId);
        }
        if (_options.StartConversations)
        {
            var entry = _store.Start();
            return new Turn(turns, prompt, sampling, entry.Session, entry, entry.Id, responseId);
        }
        return new Turn(turns, prompt, sampling, Model.CreateSession(), null, null, responseId);
    }

    void End(Turn turn)
    {
        if (turn.Entry is null) turn.Session.Dispose();
        else _store.Return(turn.Entry);
    }

    static ChatFinishReason Finish(LlamaFinishReason reason) => reason == LlamaFinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop;

    static UsageDetails Usage(int input, int output) => new() { InputTokenCount = input, OutputTokenCount = output, TotalTokenCount = input + output };
}
