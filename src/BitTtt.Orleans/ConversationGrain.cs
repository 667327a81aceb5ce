using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using BitTtt.Extensions.AI;
using BitTtt.Inference;
using BitTtt.Inference.Diagnostics;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Concurrency;
using Orleans.Placement;
using Orleans.Runtime;

namespace BitTtt.Orleans;

/// <summary>
/// What a conversation grain keeps in grain storage: the memory-file bytes of its session (<c>.bttm</c>, see
/// <see cref="BitTtt.Formats.MemoryFile"/>: its own format version and the model's fingerprint), the tokens the
/// repetition penalty looks back on, and the last reply with the id of the call that asked for it.
/// </summary>
[GenerateSerializer, Alias("bitllama.ConversationState")]
internal sealed class ConversationState
{
    /// <summary>Empty: no conversation under this id.</summary>
    [Id(0)] public byte[] Memory { get; set; } = [];
    [Id(1)] public int[] RecentTokens { get; set; } = [];
    [Id(2)] public long Turns { get; set; }
    [Id(3)] public string? LastTurnId { get; set; }
    [Id(4)] public ConversationUpdate? LastReply { get; set; }
}

/// <summary>
/// One conversation: a session on the silo's model (the <see cref="BitLlamaChatClient"/> that <c>AddBitLlama</c>
/// registers, whose <see cref="BitLlamaChatClient.PrepareTurn"/> formats every turn). After each turn the memory is
/// written through grain storage and only then is the turn's final update returned, so an acknowledged turn is never
/// lost; a turn that is cancelled or cannot be written is undone (the session goes back to the stored memory).
/// <para>Reentrant on purpose: the streamed enumeration's calls interleave anyway, so one turn at a time is kept by
/// <see cref="_busy"/>, and a second turn is answered "busy" at once, as a single process answers it.</para>
/// Placed on the silo that first calls it (a web app's instance that took the request); idle ones are collected after
/// <see cref="BitLlamaClusterOptions.IdleTimeout"/> and free their session.
/// </summary>
[GrainType("bitllama-conversation"), Reentrant, PreferLocalPlacement]
internal sealed class ConversationGrain(
    [PersistentState("conversation", BitLlamaCluster.StorageName)] IPersistentState<ConversationState> stored,
    BitLlamaChatClient chat,
    ConversationActivations activations,
    ILogger<ConversationGrain> logger) : Grain, IConversationGrain
{
    LlamaSession? _session;
    bool _busy;

    string Id => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (stored.State.Memory.Length > 0) _session = Restore(chat.Model.CreateSession());
        activations.Activated();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _session?.Dispose();
        _session = null;
        activations.Deactivated();
        return Task.CompletedTask;
    }

    public async Task<ConversationUpdate> SendAsync(ConversationTurn turn, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        await foreach (var update in StreamAsync(turn, cancellationToken))
        {
            if (!update.Final) { text.Append(update.Text); continue; }
            return update.Status == ConversationStatus.Ok ? WithText(update, text.ToString()) : update;
        }
        throw new InvalidOperationException($"conversation '{Id}': the turn ended without a final update");
    }

    public async IAsyncEnumerable<ConversationUpdate> StreamAsync(ConversationTurn turn, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(turn);
        if (Refusal(turn) is { } refusal)
        {
            yield return refusal;
            yield break;
        }
        if (turn.TurnId == stored.State.LastTurnId && stored.State.LastReply is { } last)
        {
            // The same call again (its reply was lost on the way back): the stored reply, not a second turn.
            yield return new ConversationUpdate { Text = last.Text };
            yield return WithText(last, "");
            yield break;
        }
        var (prepared, invalid) = Prepare(turn);
        if (invalid is not null)
        {
            yield return invalid;
            yield break;
        }
        _busy = true;
        bool kept = false;
        _session ??= chat.Model.CreateSession();
        // Generation runs ahead of the caller into a bounded channel: while one batch of pieces travels to the caller,
        // the next ones are computed, and Orleans sends all the pieces that are ready in one message.
        var pieces = Channel.CreateBounded<LlamaCompletionUpdate>(new BoundedChannelOptions(ReadAhead) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var generation = GenerateAsync(_session, prepared!, pieces.Writer, stop.Token);
        try
        {
            var text = new StringBuilder();
            LlamaCompletionUpdate? end = null;
            while (await pieces.Reader.WaitToReadAsync(cancellationToken))
            {
                while (pieces.Reader.TryRead(out var update))
                {
                    if (update.FinishReason is not null) { end = update; continue; }
                    text.Append(update.Text);
                    yield return new ConversationUpdate { Text = update.Text };
                }
            }
            await generation;
            var reply = new ConversationUpdate
            {
                Final = true, Text = text.ToString(), ModelId = chat.Metadata.DefaultModelId,
                FinishReason = end!.FinishReason == LlamaFinishReason.Length ? "length" : "stop",
                PromptTokens = end.PromptTokens, CachedPromptTokens = end.CachedPromptTokens, CompletionTokens = end.CompletionTokens,
            };
            if (turn.Keep && await PersistAsync(turn.TurnId, reply) is { } failure)
            {
                yield return failure;
                yield break;
            }
            kept = true;
            yield return WithText(reply, "");
        }
        finally
        {
            stop.Cancel();
            try { await generation; }
            catch (Exception) { }   // already thrown to the caller, or the caller has gone: the session is free either way
            if (!kept) Revert();
            _busy = false;
            // A one-off call's grain goes once the caller has disposed the stream, not before its final update: deactivating
            // earlier drops the enumerator the caller is still reading (EnumerationAbortedException), which happens when
            // the pieces were all generated before the caller read them.
            if (!turn.Keep) DeactivateOnIdle();
        }
    }

    /// <summary>Pieces generated before the caller asks for them; the generation waits when this many are unread.</summary>
    const int ReadAhead = 64;

    static async Task GenerateAsync(LlamaSession session, BitLlamaChatTurn turn, ChannelWriter<LlamaCompletionUpdate> pieces, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var update in turn.RunStreamingAsync(session, cancellationToken))   // the model's chat format and end-of-turn stop, as the chat client
                await pieces.WriteAsync(update, cancellationToken);
            pieces.Complete();
        }
        catch (Exception e)
        {
            pieces.Complete(e);
            throw;
        }
    }

    public async Task<ConversationStatus> ResetAsync()
    {
        if (_busy) return ConversationStatus.Busy;
        if (_session is null)
        {
            DeactivateOnIdle();
            return ConversationStatus.NotFound;
        }
        _busy = true;
        try
        {
            _session.ResetState();
            if (await PersistAsync(turnId: null, reply: null) is { } failure)
            {
                Revert();
                return failure.Status;
            }
            return ConversationStatus.Ok;
        }
        finally { _busy = false; }
    }

    /// <summary>Busy, unknown, or a start under an id that is taken; null when the turn may run.</summary>
    ConversationUpdate? Refusal(ConversationTurn turn)
    {
        if (_busy)
            return ConversationUpdate.Refused(ConversationStatus.Busy,
                $"conversation '{Id}' is already in use by another call; wait for it to finish");
        if (turn.TurnId == stored.State.LastTurnId) return null;
        if (!turn.Start && _session is null)
        {
            DeactivateOnIdle();
            return ConversationUpdate.Refused(ConversationStatus.NotFound,
                $"conversation '{Id}' is unknown: it was never started, or its stored memory is gone; start a new conversation (no ConversationId)");
        }
        if (turn.Start && _session is not null)
            return ConversationUpdate.Refused(ConversationStatus.Invalid, $"conversation '{Id}' exists already; a new conversation needs a new id", "options");
        return null;
    }

    /// <summary>The turn (messages, a set template's prompt, sampling) through the chat client's own mapping, or the refusal naming what is invalid.</summary>
    (BitLlamaChatTurn?, ConversationUpdate?) Prepare(ConversationTurn turn)
    {
        var options = new ChatOptions
        {
            Instructions = turn.Instructions, MaxOutputTokens = turn.MaxOutputTokens, Temperature = turn.Temperature, TopP = turn.TopP,
            TopK = turn.TopK, FrequencyPenalty = turn.FrequencyPenalty, PresencePenalty = turn.PresencePenalty, Seed = turn.Seed,
            StopSequences = turn.StopSequences?.ToList(),
        };
        try
        {
            return (chat.PrepareTurn(turn.Messages.Select(m => new ChatMessage(new ChatRole(m.Role), m.Text)), options), null);
        }
        catch (ArgumentException e)
        {
            string message = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "");
            return (null, ConversationUpdate.Refused(ConversationStatus.Invalid, message, e.ParamName));
        }
    }

    /// <summary>
    /// Writes the session's memory; null when it is stored. On failure the stored state is left as it was and the grain
    /// deactivates, so the next call reads storage afresh (a write that failed may have landed).
    /// </summary>
    async Task<ConversationUpdate?> PersistAsync(string? turnId, ConversationUpdate? reply)
    {
        var clock = Stopwatch.StartNew();
        var memory = new MemoryStream(Math.Max(stored.State.Memory.Length, 4096));
        _session!.SaveMemory(memory);
        var previous = stored.State;
        stored.State = new ConversationState
        {
            Memory = memory.ToArray(), RecentTokens = _session.RecentTokens(), Turns = previous.Turns + 1, LastTurnId = turnId, LastReply = reply,
        };
        try
        {
            await stored.WriteStateAsync();
            BitLlamaTelemetry.MemorySaves.Add(1, GrainStoreTag);
            BitLlamaTelemetry.MemorySaveDuration.Record(clock.Elapsed.TotalSeconds, GrainStoreTag);
            BitLlamaTelemetry.MemorySize.Record(stored.State.Memory.Length, GrainStoreTag);
            return null;
        }
        catch (Exception e)
        {
            stored.State = previous;
            BitLlamaTelemetry.MemorySaveFailures.Add(1, GrainStoreTag);
            logger.LogWarning(e, "Conversation {ConversationId}: its memory could not be written to grain storage; the turn is dropped", Id);
            DeactivateOnIdle();
            return ConversationUpdate.Refused(ConversationStatus.Unavailable,
                $"conversation '{Id}': its memory could not be written to grain storage ({BitLlamaClusterChatClient.Summary(e)}); the turn was not kept, retry it later");
        }
    }

    /// <summary>Back to the stored memory after a turn that was not kept (or to no conversation, if none is stored).</summary>
    void Revert()
    {
        try
        {
            if (stored.State.Memory.Length > 0 && _session is not null) Restore(_session);
            else if (stored.State.Memory.Length == 0)
            {
                _session?.Dispose();
                _session = null;
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or IOException)
        {
            logger.LogWarning(e, "Conversation {ConversationId}: could not go back to the stored memory; deactivating", Id);
            DeactivateOnIdle();
        }
    }

    LlamaSession Restore(LlamaSession session)
    {
        session.LoadMemory(new MemoryStream(stored.State.Memory, writable: false), $"conversation '{Id}' memory");
        session.RestoreRecentTokens(stored.State.RecentTokens);
        BitLlamaTelemetry.MemoryLoads.Add(1, GrainStoreTag);
        return session;
    }

    static readonly KeyValuePair<string, object?> GrainStoreTag = new(BitLlamaTelemetry.MemoryStoreTag, BitLlamaTelemetry.GrainStore);

    static ConversationUpdate WithText(ConversationUpdate u, string text) => new()
    {
        Status = u.Status, Text = text, Final = u.Final, FinishReason = u.FinishReason, PromptTokens = u.PromptTokens,
        CachedPromptTokens = u.CachedPromptTokens, CompletionTokens = u.CompletionTokens, ModelId = u.ModelId, Error = u.Error,
        ErrorParameter = u.ErrorParameter,
    };
}
