using System.Diagnostics;
using System.Runtime.CompilerServices;
using BitTtt.Extensions.AI;
using Microsoft.Extensions.AI;
using Orleans;
using Orleans.Runtime;

namespace BitTtt.Orleans;

/// <summary>
/// <see cref="IChatClient"/> over a cluster: each conversation is a grain keyed by its
/// <see cref="ChatOptions.ConversationId"/>, holding its TTT memory on whichever silo hosts it and writing it to grain
/// storage after every turn. Calls behave as <see cref="BitLlamaChatClient"/>'s (same prompt formatting and sampling,
/// done on the silo by its chat client; the same ids, errors and "busy" answer), so the same Microsoft.Extensions.AI
/// code runs in one process or on a cluster:
/// <list type="bullet">
/// <item>No ConversationId: a new conversation, its id in the response; or, when the call's
/// <see cref="BitLlamaChatClient.StartConversationKey"/> is false (or, without that key,
/// <see cref="BitLlamaClusterChatClientOptions.StartConversations"/> is), a one-off call that stores nothing and takes
/// no grain: on a silo it runs on the silo's own <see cref="BitLlamaChatClient"/> (so it needs no storage), in an
/// Orleans client on a grain that keeps nothing.</item>
/// <item>An id the cluster does not store: <see cref="ConversationNotFoundException"/>; an overlapping call on one
/// conversation: <see cref="InvalidOperationException"/>; an invalid message or option: <see cref="ArgumentException"/>.</item>
/// <item>A response (or a stream's final update) arrives only after the turn's memory is stored. If the silo holding the
/// conversation dies, the call is retried until another silo restores it from storage (up to
/// <see cref="BitLlamaClusterChatClientOptions.FailoverTimeout"/>); when storage is unreachable the call throws
/// <see cref="ConversationUnavailableException"/> and nothing of it is kept.</item>
/// </list>
/// Works wherever an <see cref="IGrainFactory"/> is: in a silo (a co-hosted web app) or an Orleans client.
/// </summary>
public sealed class BitLlamaClusterChatClient : IChatClient, IBitLlamaConversations
{
    readonly IGrainFactory _grains;
    readonly BitLlamaClusterChatClientOptions _options;
    readonly ConversationActivations? _activations;
    readonly BitLlamaChatClient? _local;

    public BitLlamaClusterChatClient(IGrainFactory grains, BitLlamaClusterChatClientOptions? options = null) : this(grains, options, null, null) { }

    /// <summary>On a silo: <paramref name="activations"/> counts its conversations, <paramref name="local"/> (its model's client) runs one-off calls.</summary>
    internal BitLlamaClusterChatClient(IGrainFactory grains, BitLlamaClusterChatClientOptions? options, ConversationActivations? activations,
        BitLlamaChatClient? local)
    {
        ArgumentNullException.ThrowIfNull(grains);
        _grains = grains;
        _options = options ?? new BitLlamaClusterChatClientOptions();
        if (_options.FailoverTimeout < TimeSpan.Zero)
            throw new OptionException(nameof(BitLlamaClusterChatClientOptions.FailoverTimeout), $"must not be negative, got {_options.FailoverTimeout}");
        _activations = activations;
        _local = local;
        Metadata = new ChatClientMetadata(BitLlamaChatClient.ProviderName, null, _options.ModelId ?? "bitllama");
    }

    public ChatClientMetadata Metadata { get; }

    /// <summary>Conversations held by this process's silo now (0 in an Orleans client that hosts no silo).</summary>
    public int LiveConversations => _activations?.Count ?? 0;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (_local is not null && IsOneOff(options)) return await _local.GetResponseAsync(messages, OneOff(options), cancellationToken).ConfigureAwait(false);
        var call = Begin(messages, options);
        var grain = _grains.GetGrain<IConversationGrain>(call.GrainKey);
        var reply = await WithFailover(call, () => grain.SendAsync(call.Turn, cancellationToken), cancellationToken).ConfigureAwait(false);
        if (reply.Status != ConversationStatus.Ok) throw Refused(call, reply);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, reply.Text) { MessageId = call.ResponseId })
        {
            ResponseId = call.ResponseId,
            ConversationId = call.ConversationId,
            ModelId = reply.ModelId ?? Metadata.DefaultModelId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = Finish(reply.FinishReason),
            Usage = Usage(reply),
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (_local is not null && IsOneOff(options))
        {
            await foreach (var update in _local.GetStreamingResponseAsync(messages, OneOff(options), cancellationToken).ConfigureAwait(false))
                yield return update;
            yield break;
        }
        var call = Begin(messages, options);
        var grain = _grains.GetGrain<IConversationGrain>(call.GrainKey);
        IAsyncEnumerator<ConversationUpdate>? updates = null;
        try
        {
            // Only the start is retried: once a piece has arrived the turn is running on a silo, and its loss ends the call.
            var update = await WithFailover(call, async () =>
            {
                if (updates is not null) await DisposeQuietly(updates).ConfigureAwait(false);
                updates = grain.StreamAsync(call.Turn, cancellationToken).GetAsyncEnumerator(cancellationToken);
                return await updates.MoveNextAsync().ConfigureAwait(false) ? updates.Current : throw EndedEarly(call);
            }, cancellationToken).ConfigureAwait(false);
            while (true)
            {
                if (update.Status != ConversationStatus.Ok) throw Refused(call, update);
                yield return ToUpdate(call, update);
                if (update.Final) yield break;
                update = await NextAsync(call, updates!, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            if (updates is not null) await DisposeQuietly(updates).ConfigureAwait(false);
        }
    }

    /// <summary>Empties a conversation's memory in the cluster (stored before this returns); false if the id is unknown.</summary>
    public async Task<bool> ResetConversationAsync(string conversationId, CancellationToken cancellationToken = default)
    {
        BitLlamaChatClient.ValidateConversationId(conversationId);
        var call = new Call(conversationId, conversationId, null!, "");
        var grain = _grains.GetGrain<IConversationGrain>(conversationId);
        var status = await WithFailover(call, () => grain.ResetAsync(), cancellationToken).ConfigureAwait(false);
        return status switch
        {
            ConversationStatus.Ok => true,
            ConversationStatus.NotFound => false,
            ConversationStatus.Busy => throw new InvalidOperationException($"conversation '{conversationId}' is already in use by another call; wait for it to finish"),
            _ => throw new ConversationUnavailableException(conversationId, $"conversation '{conversationId}': its emptied memory could not be written to grain storage; retry later"),
        };
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return Metadata;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose() { }

    /// <summary>
    /// One call: the grain it goes to (<c>GrainKey</c>, a new id for a call that starts a conversation), the id the response
    /// reports (the key, or null for a one-off call), the turn as it crosses, and the response id.
    /// </summary>
    sealed record Call(string GrainKey, string? ConversationId, ConversationTurn Turn, string ResponseId);

    Call Begin(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        string? id = options?.ConversationId;
        if (id is not null) BitLlamaChatClient.ValidateConversationId(id);
        bool start = id is null;
        bool keep = !IsOneOff(options);
        string key = id ?? Guid.NewGuid().ToString("N");
        var turn = new ConversationTurn
        {
            TurnId = Guid.NewGuid().ToString("N"),
            Start = start,
            Keep = keep,
            // A null message crosses as null: the silo's chat client rejects it with its own message.
            Messages = messages.Select(m => m is null ? null! : new ConversationMessage(m.Role.Value, m.Text)).ToList(),
            Instructions = options?.Instructions,
            MaxOutputTokens = options?.MaxOutputTokens,
            Temperature = options?.Temperature,
            TopP = options?.TopP,
            TopK = options?.TopK,
            FrequencyPenalty = options?.FrequencyPenalty,
            PresencePenalty = options?.PresencePenalty,
            Seed = options?.Seed,
            StopSequences = options?.StopSequences?.ToList(),
        };
        return new Call(key, keep ? key : null, turn, Guid.NewGuid().ToString("N"));
    }

    /// <summary>A call without ConversationId that does not start a conversation (its memory is dropped afterwards).</summary>
    bool IsOneOff(ChatOptions? options) =>
        options?.ConversationId is null && !BitLlamaChatClient.StartsConversation(options, _options.StartConversations);

    /// <summary>The call's options for the silo's own client: the same, saying not to start a conversation whatever that client's default.</summary>
    static ChatOptions OneOff(ChatOptions? options)
    {
        var copy = options?.Clone() ?? new ChatOptions();
        copy.AdditionalProperties = copy.AdditionalProperties?.Clone() ?? [];
        copy.AdditionalProperties[BitLlamaChatClient.StartConversationKey] = false;
        return copy;
    }

    /// <summary>
    /// Runs <paramref name="attempt"/>, again while the silo it went to is unreachable (until the cluster moves the
    /// conversation, within the failover timeout: the turn carries its id, so a retry never runs it twice); any other
    /// failure of the cluster becomes <see cref="ConversationUnavailableException"/>.
    /// </summary>
    async Task<T> WithFailover<T>(Call call, Func<Task<T>> attempt, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        for (int tries = 1; ; tries++)
        {
            try
            {
                return await attempt().ConfigureAwait(false);
            }
            catch (Exception e) when (IsSiloLost(e) && clock.Elapsed < _options.FailoverTimeout && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 50 << Math.Min(tries, 5))), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsClusterFailure(e) && !cancellationToken.IsCancellationRequested)
            {
                throw Unavailable(call, e, tries > 1 ? clock.Elapsed : null);
            }
        }
    }

    async Task<ConversationUpdate> NextAsync(Call call, IAsyncEnumerator<ConversationUpdate> updates, CancellationToken cancellationToken)
    {
        try
        {
            return await updates.MoveNextAsync().ConfigureAwait(false) ? updates.Current : throw EndedEarly(call);
        }
        catch (Exception e) when (IsClusterFailure(e) && !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable(call, e, null);
        }
    }

    static bool IsSiloLost(Exception e) => e is OrleansMessageRejectionException or global::Orleans.Runtime.Messaging.ConnectionFailedException;

    static bool IsClusterFailure(Exception e) => e is OrleansException or TimeoutException;

    static ConversationUnavailableException Unavailable(Call call, Exception e, TimeSpan? after)
    {
        string what = call.Turn is null || !call.Turn.Start ? $"conversation '{call.GrainKey}'" : "a new conversation";
        string retried = after is { } t ? $" (retried for {t.TotalSeconds:F1} s while its silo was unreachable)" : "";
        return new ConversationUnavailableException(call.ConversationId, $"{what} cannot be served by the cluster now{retried}: {Summary(e)}; retry later", e);
    }

    /// <summary>The innermost error's type and first line, cut short: a client needs the gist, the silo's log has the rest.</summary>
    internal static string Summary(Exception e)
    {
        var inner = e.GetBaseException();
        string line = inner.Message.Split('\n')[0];
        return $"{inner.GetType().Name}: {(line.Length > 160 ? line[..160] + "..." : line)}";
    }

    static InvalidOperationException EndedEarly(Call call) => new($"conversation '{call.GrainKey}': the turn ended without a final update");

    Exception Refused(Call call, ConversationUpdate update) => update.Status switch
    {
        ConversationStatus.NotFound => new ConversationNotFoundException(call.GrainKey, update.Error!),
        ConversationStatus.Busy => new InvalidOperationException(update.Error),
        ConversationStatus.Invalid => new ArgumentException(update.Error, update.ErrorParameter),
        _ => new ConversationUnavailableException(call.ConversationId, update.Error!),
    };

    ChatResponseUpdate ToUpdate(Call call, ConversationUpdate update)
    {
        var chat = new ChatResponseUpdate(ChatRole.Assistant, update.Text)
        {
            ResponseId = call.ResponseId,
            MessageId = call.ResponseId,
            ConversationId = call.ConversationId,
            ModelId = update.ModelId ?? Metadata.DefaultModelId,
        };
        if (update.Final)
        {
            chat.FinishReason = Finish(update.FinishReason);
            chat.Contents.Add(new UsageContent(Usage(update)));
        }
        return chat;
    }

    static async Task DisposeQuietly(IAsyncEnumerator<ConversationUpdate> updates)
    {
        try { await updates.DisposeAsync().ConfigureAwait(false); }
        catch (Exception e) when (IsClusterFailure(e)) { }   // the silo holding it is gone; it cleans up its side itself
    }

    static ChatFinishReason Finish(string? reason) => reason == "length" ? ChatFinishReason.Length : ChatFinishReason.Stop;

    static UsageDetails Usage(ConversationUpdate u) => new()
    {
        InputTokenCount = u.PromptTokens, CachedInputTokenCount = u.CachedPromptTokens, OutputTokenCount = u.CompletionTokens,
        TotalTokenCount = u.PromptTokens + u.CompletionTokens,
    };
}
