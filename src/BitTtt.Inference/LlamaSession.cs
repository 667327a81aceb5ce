using System.Runtime.CompilerServices;
using BitTtt.Inference.Diagnostics;
using BitTtt.Inference.Engine;
using BitTtt.Tokenization;

namespace BitTtt.Inference;

/// <summary>
/// One sequence's view of a shared <see cref="Llama"/>: the TTT memory (per layer W and G, or S and the conv tails for delta), the
/// logits of the last token fed, and the recent tokens the repetition penalty looks at.
/// <para>Lifetimes: calls on one session must not overlap (a second concurrent call throws
/// <see cref="InvalidOperationException"/>); different sessions run in parallel. A streamed completion holds
/// the session from its first <c>MoveNextAsync</c> until it ends or is disposed; an enumerator dropped without
/// <c>DisposeAsync</c> frees the session when the garbage collector finalizes it. <see cref="Dispose"/> (or
/// disposing the model) during a call stops it within one token or one prompt batch with
/// <see cref="ObjectDisposedException"/>, and every later call throws it.</para>
/// <para>Cancellation: every long call takes a <see cref="CancellationToken"/>, checked before each token and
/// each prompt chunk (<see cref="SequenceState.MaxBatch"/> tokens). A cancelled call leaves the session usable;
/// its memory holds what was fed before the cancellation (the prompt chunks and tokens completed).</para>
/// <para>Batching: while several sessions of one model run calls, the model's scheduler advances them together, one
/// forward step for all (<see cref="InferenceOptions.Batching"/>); each session's results are bitwise what it gets alone.</para>
/// Every completion continues the memory: the prompt and the generated text are learned as they pass.
/// </summary>
public sealed class LlamaSession : IDisposable
{
    /// <summary>How many recent tokens the repetition penalty considers.</summary>
    public const int RepetitionWindow = 256;

    static long s_nextLeaseId;

    readonly SequenceState _state;
    readonly float[] _logits;
    readonly List<int> _recent = new();
    long _owner;   // id of the lease holding the session, 0 when free
    volatile bool _disposed;

    internal LlamaSession(Llama model)
    {
        Model = model;
        _state = new SequenceState(model.Weights);
        _logits = new float[model.Config.VocabSize];
    }

    /// <summary>The model this session runs on.</summary>
    public Llama Model { get; }

    /// <summary>Tokens this session's memory has consumed since the last reset or load.</summary>
    public long Position => _state.Position;

    internal bool HasLogits { get; private set; }

    /// <summary>The last token fed, or null when unknown (nothing fed since the last reset, or a memory was loaded).</summary>
    internal int? LastToken => _recent.Count > 0 ? _recent[^1] : null;
    internal ReadOnlySpan<float> CurrentLogits => _logits;

    /// <summary>Feeds <paramref name="tokens"/> (advancing the memory) and returns the logits of the last one.</summary>
    public float[] Logits(ReadOnlySpan<int> tokens, CancellationToken cancellationToken = default)
    {
        using var _ = Enter();
        if (tokens.IsEmpty) throw new ArgumentException("no tokens given", nameof(tokens));
        Engine.Forward.CheckCall(Model.Config, tokens, default);
        LlamaGeneration.Feed(this, tokens.ToArray(), cancellationToken).RunToEnd(Model.Scheduler);
        return (float[])_logits.Clone();
    }

    /// <summary>
    /// Feeds <paramref name="tokens"/> (advancing the memory, as <see cref="Logits"/> does) and returns each token's
    /// final hidden state: rmsnorm(h, norm_f), the vector the LM head turns into logits (docs/model.md §3), as
    /// (T, D) row-major, T = <paramref name="tokens"/>.Length, D = <see cref="BitLlamaConfig.HiddenDim"/>. Row t
    /// depends on tokens 0…t and on what the session held before, never on how the tokens were split across calls.
    /// </summary>
    public float[] HiddenStates(ReadOnlySpan<int> tokens, CancellationToken cancellationToken = default)
    {
        using var _ = Enter();
        if (tokens.IsEmpty) throw new ArgumentException("no tokens given", nameof(tokens));
        int dim = Model.Config.HiddenDim;
        var hidden = new float[tokens.Length * dim];
        for (int start = 0; start < tokens.Length; start += SequenceState.MaxBatch)
        {
            ThrowIfUnusable();
            cancellationToken.ThrowIfCancellationRequested();
            var batch = tokens.Slice(start, Math.Min(SequenceState.MaxBatch, tokens.Length - start));
            bool last = start + batch.Length == tokens.Length;
            // The session is held by this call, so no scheduler step touches its state: it is stepped here, alone,
            // which gives bitwise what a shared step would (batch invariance).
            Forward.RunHidden(_state, batch, hidden.AsSpan(start * dim, batch.Length * dim), last ? _logits : Span<float>.Empty);
            Remember(batch);
        }
        HasLogits = true;
        return hidden;
    }

    /// <summary>Forgets everything: the TTT state back to zeros, position 0.</summary>
    public void ResetState()
    {
        using var _ = Enter();
        _state.Reset();
        _recent.Clear();
        HasLogits = false;
    }

    /// <summary>Advances the memory on <paramref name="text"/> without generating.</summary>
    public void Learn(string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        using var _ = Enter();
        var ids = Model.Tokenizer.Encode(text);
        if (ids.Length == 0) return;
        Engine.Forward.CheckCall(Model.Config, ids, default);
        LlamaGeneration.Feed(this, ids, cancellationToken).RunToEnd(Model.Scheduler);
    }

    /// <summary><see cref="Learn"/> off the caller's thread.</summary>
    public Task LearnAsync(string text, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Task.Run(() => Learn(text, cancellationToken), cancellationToken);
    }

    /// <summary>Writes the memory (a <c>.bttm</c> file, see <see cref="BitTtt.Formats.MemoryFile"/>) atomically.</summary>
    public void SaveMemory(string path)
    {
        using var _ = Enter();
        _state.SaveMemory(path);
        BitLlamaTelemetry.MemorySaves.Add(1, new KeyValuePair<string, object?>(BitLlamaTelemetry.MemoryStoreTag, BitLlamaTelemetry.FileStore));
    }

    /// <summary>
    /// Copies this session's state into memory: the TTT memory and position (what <see cref="SaveMemory(string)"/> writes), the
    /// logits of the last token fed and the recent tokens of the repetition penalty. <see cref="RestoreState"/> puts it
    /// back, here or into another session of the same model, which then continues exactly as this one would.
    /// </summary>
    public LlamaSessionState CaptureState()
    {
        using var _ = Enter();
        return CaptureStateHeld();
    }

    /// <summary>
    /// Replaces this session's state with <paramref name="state"/> (captured from a session of the same model);
    /// the next call continues exactly as the captured session's would have. Another model's state is an
    /// <see cref="ArgumentException"/> and changes nothing.
    /// </summary>
    public void RestoreState(LlamaSessionState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        using var _ = Enter();
        RestoreStateHeld(state);
    }

    /// <summary><see cref="CaptureState"/> for a caller that already holds the session (a running call, between its steps).</summary>
    internal LlamaSessionState CaptureStateHeld()
    {
        var memory = SequenceMemory.Arrays(_state).Select(a => (float[])a.Clone()).ToArray();
        return new LlamaSessionState(Model.Weights, memory, _state.Position, HasLogits ? (float[])_logits.Clone() : null, RecentHeld());
    }

    /// <summary>The last (up to) <see cref="RepetitionWindow"/> tokens fed, oldest first, for a caller that holds the session.</summary>
    int[] RecentHeld()
    {
        int recent = Math.Min(_recent.Count, RepetitionWindow);
        return _recent.GetRange(_recent.Count - recent, recent).ToArray();
    }

    /// <summary><see cref="RestoreState"/> for a caller that already holds the session.</summary>
    internal void RestoreStateHeld(LlamaSessionState state)
    {
        if (!ReferenceEquals(state.Weights, Model.Weights) && state.Weights.Fingerprint != Model.Weights.Fingerprint)
            throw new ArgumentException("the state was captured from a session of a different model", nameof(state));
        var memory = SequenceMemory.Arrays(_state);
        for (int i = 0; i < memory.Length; i++) state.Memory[i].CopyTo(memory[i], 0);
        _state.Position = state.Position;
        state.Logits.CopyTo(_logits);
        HasLogits = state.HasLogits;
        _recent.Clear();
        _recent.AddRange(state.Recent);
    }

    /// <summary>
    /// Replaces the memory with a saved one; rejects a memory file from a different model, and any malformed one
    /// with a <see cref="BitLlamaFormatException"/> naming the field (the memory is then unchanged).
    /// </summary>
    public void LoadMemory(string path, BitLlamaLoadLimits? limits = null)
    {
        using var _ = Enter();
        _state.LoadMemory(path, limits);
        _recent.Clear();
        HasLogits = false;
        BitLlamaTelemetry.MemoryLoads.Add(1, new KeyValuePair<string, object?>(BitLlamaTelemetry.MemoryStoreTag, BitLlamaTelemetry.FileStore));
    }

    /// <summary>
    /// Writes the memory to <paramref name="destination"/>: the bytes a <c>.bttm</c> file holds, for a store that is
    /// not a file (a database value, a grain's state). The stream is neither flushed nor closed.
    /// </summary>
    public void SaveMemory(Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        using var _ = Enter();
        _state.SaveMemory(destination);
    }

    /// <summary>
    /// Replaces the memory with one read from <paramref name="source"/> (what <see cref="SaveMemory(Stream)"/> wrote), with
    /// the checks of <see cref="LoadMemory(string, BitLlamaLoadLimits?)"/>; an error message begins with
    /// <paramref name="sourceName"/> where a file's would begin with its name.
    /// </summary>
    public void LoadMemory(Stream source, string sourceName = "memory", BitLlamaLoadLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        using var _ = Enter();
        _state.LoadMemory(source, sourceName, limits);
        _recent.Clear();
        HasLogits = false;
    }

    /// <summary>
    /// The last tokens fed, oldest first (at most <see cref="RepetitionWindow"/>): what the repetition penalty looks back
    /// on. A memory holds the TTT state only, so a session that loads one starts with none; to continue a conversation
    /// exactly as an uninterrupted session would, keep these beside the memory and give them back with
    /// <see cref="RestoreRecentTokens"/>.
    /// </summary>
    public int[] RecentTokens()
    {
        using var _ = Enter();
        return RecentHeld();
    }

    /// <summary>
    /// Replaces the tokens the repetition penalty looks back on (see <see cref="RecentTokens"/>); only the last
    /// <see cref="RepetitionWindow"/> are kept. Each id must be below the model's <c>vocab_size</c>.
    /// </summary>
    public void RestoreRecentTokens(ReadOnlySpan<int> tokens)
    {
        using var _ = Enter();
        int vocab = Model.Config.VocabSize;
        for (int i = 0; i < tokens.Length; i++)
            if ((uint)tokens[i] >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"tokens[{i}] is {tokens[i]}, not a token id of this model (0 to {vocab - 1})");
        _recent.Clear();
        foreach (int id in tokens.Length > RepetitionWindow ? tokens[^RepetitionWindow..] : tokens) _recent.Add(id);
    }

    /// <summary>Streams the completion to <paramref name="onToken"/> on the calling thread; it returns false to stop.</summary>
    public void StreamCompletion(string prompt, int maxTokens, float temperature, Func<string, bool> onToken)
    {
        ArgumentNullException.ThrowIfNull(onToken);
        var options = Model.DefaultSampling with { MaxTokens = maxTokens, Temperature = temperature };
        using var _ = Enter();
        using var generation = LlamaGeneration.Completion(this, prompt, options, collect: false, CancellationToken.None);
        generation.Start();
        for (string? piece = generation.Next(Model.Scheduler); piece is not null; piece = generation.Next(Model.Scheduler))
            if (!onToken(piece)) break;
    }

    /// <summary>The completion of <paramref name="prompt"/>, computed on the calling thread; null options = the model's <see cref="Llama.DefaultSampling"/>.</summary>
    public string Complete(string prompt, SamplingOptions? options = null, CancellationToken cancellationToken = default) =>
        Generate(prompt, options, cancellationToken).Text;

    /// <summary>
    /// The completion with its token counts and finish reason. The calling thread waits while the model's steps run
    /// (on the batching thread, beside other sessions; on this thread when batching is off).
    /// </summary>
    public LlamaCompletion Generate(string prompt, SamplingOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var _ = Enter();
        using var generation = LlamaGeneration.Completion(this, prompt, options ?? Model.DefaultSampling, collect: true, cancellationToken);
        generation.Start();
        return generation.RunToEnd(Model.Scheduler)!;
    }

    /// <summary><see cref="Generate"/> without blocking the caller; the session is taken at once (an overlapping call throws here).</summary>
    public Task<LlamaCompletion> GenerateAsync(string prompt, SamplingOptions? options = null, CancellationToken cancellationToken = default)
    {
        var generation = LlamaGeneration.Completion(this, prompt, options ?? Model.DefaultSampling, collect: true, cancellationToken);
        var lease = Enter();
        return Run();

        async Task<LlamaCompletion> Run()
        {
            using (lease)
            using (generation)
            {
                await Task.Yield();   // tokenizing a long prompt is work too: never on the caller's thread
                generation.Start();
                return (await generation.RunToEndAsync(Model.Scheduler).ConfigureAwait(false))!;
            }
        }
    }

    /// <summary>Streams the completion; each piece is whole UTF-8 characters. Decode steps run off the caller's thread.</summary>
    public async IAsyncEnumerable<string> CompleteStreamingAsync(string prompt, SamplingOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var update in GenerateStreamingAsync(prompt, options, cancellationToken).ConfigureAwait(false))
            if (update.Text.Length > 0) yield return update.Text;
    }

    /// <summary>
    /// Streams the completion as updates (the last one carries the finish reason and token counts). The prompt and
    /// each decode step run off the caller's thread (the model's batching thread, or the thread pool when batching is
    /// off); the next token is fed only when the next piece is asked for.
    /// </summary>
    public async IAsyncEnumerable<LlamaCompletionUpdate> GenerateStreamingAsync(string prompt, SamplingOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var update in Stream(LlamaGeneration.Completion(this, prompt, options ?? Model.DefaultSampling, collect: false, cancellationToken)).ConfigureAwait(false))
            yield return update;
    }

    /// <summary>Streams a call's updates (prompt and steps off the caller's thread); the call's own token cancels it.</summary>
    async IAsyncEnumerable<LlamaCompletionUpdate> Stream(LlamaGeneration generation)
    {
        var lease = Enter();
        try
        {
            generation.Start();
            string? piece = await generation.NextAsync(Model.Scheduler).ConfigureAwait(false);
            while (piece is not null)
            {
                yield return new LlamaCompletionUpdate(piece, generation.PromptTokens, generation.CompletionTokens, null);
                piece = await generation.NextAsync(Model.Scheduler).ConfigureAwait(false);
            }
            yield return new LlamaCompletionUpdate("", generation.PromptTokens, generation.CompletionTokens, generation.FinishReason)
            {
                CachedPromptTokens = generation.CachedPromptTokens,
            };
        }
        finally
        {
            generation.Dispose();
            lease.Dispose();
        }
    }

    /// <summary>
    /// The model's reply to <paramref name="messages"/>: the one way every chat door (the chat client, the web API, the
    /// CLI, the C ABI and Python) turns messages into a prompt. With the model's chat template
    /// (<see cref="Llama.ChatFormat"/>, docs/model.md §6.3) the messages become token ids (their text never parsed for
    /// special tokens), followed by the assistant's marker, and the reply ends when the model produces the end-of-turn
    /// token (<see cref="LlamaFinishReason.EndOfTurn"/>); a turn the memory left open is closed first. Without a template
    /// the plain-text format (docs/model.md §6.4) is fed and the reply stops at <see cref="ChatFormat.PlainTextStop"/>.
    /// The memory keeps the messages and the reply: in a continuing conversation give only the new messages. Null
    /// options = the model's <see cref="Llama.DefaultSampling"/>. The calling thread waits while the steps run (on the
    /// batching thread, beside other sessions; on this thread when batching is off).
    /// </summary>
    public LlamaCompletion Reply(IReadOnlyList<ChatTurn> messages, SamplingOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var generation = ReplyGeneration(messages, options, collect: true, cancellationToken);
        using var _ = Enter();
        generation.Start();
        return generation.RunToEnd(Model.Scheduler)!;
    }

    /// <summary><see cref="Reply"/> without blocking the caller; the session is taken at once (an overlapping call throws here).</summary>
    public Task<LlamaCompletion> ReplyAsync(IReadOnlyList<ChatTurn> messages, SamplingOptions? options = null, CancellationToken cancellationToken = default)
    {
        var generation = ReplyGeneration(messages, options, collect: true, cancellationToken);
        var lease = Enter();
        return Run();

        async Task<LlamaCompletion> Run()
        {
            using (lease)
            using (generation)
            {
                await Task.Yield();   // never on the caller's thread
                generation.Start();
                return (await generation.RunToEndAsync(Model.Scheduler).ConfigureAwait(false))!;
            }
        }
    }

    /// <summary><see cref="Reply"/> streamed as updates, like <see cref="GenerateStreamingAsync"/>.</summary>
    public async IAsyncEnumerable<LlamaCompletionUpdate> ReplyStreamingAsync(IReadOnlyList<ChatTurn> messages, SamplingOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var update in Stream(ReplyGeneration(messages, options, collect: false, cancellationToken)).ConfigureAwait(false))
            yield return update;
    }

    LlamaGeneration ReplyGeneration(IReadOnlyList<ChatTurn> messages, SamplingOptions? options, bool collect, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0) throw new ArgumentException("messages is empty; give at least one message", nameof(messages));
        options ??= Model.DefaultSampling;
        if (Model.ChatFormat is { } format)
            return LlamaGeneration.Reply(this, format.EncodeReply(messages), options, format.EndOfTurnId, collect, cancellationToken);
        var plain = options with { StopStrings = [.. options.StopStrings.Append(ChatFormat.PlainTextStop).Distinct(StringComparer.Ordinal)] };
        return LlamaGeneration.Completion(this, ChatFormat.PlainTextPrompt(messages), plain, collect, cancellationToken);
    }

    /// <summary>The engine state (the scheduler and the direct driver step it).</summary>
    internal SequenceState State => _state;

    /// <summary>Where a step writes this session's logits (V).</summary>
    internal float[] LogitsBuffer => _logits;

    /// <summary>After a step fed <paramref name="tokens"/>: the repetition window, and whether its logits are now current.</summary>
    internal void Fed(ReadOnlySpan<int> tokens, bool logits)
    {
        if (logits) HasLogits = true;
        Remember(tokens);
    }

    /// <summary>Keeps the recent tokens the repetition penalty looks at.</summary>
    void Remember(ReadOnlySpan<int> batch)
    {
        foreach (var id in batch.Length > RepetitionWindow ? batch[^RepetitionWindow..] : batch) _recent.Add(id);
        if (_recent.Count > 2 * RepetitionWindow) _recent.RemoveRange(0, _recent.Count - RepetitionWindow);
    }

    /// <summary>Copies the last (up to) <see cref="RepetitionWindow"/> tokens into <paramref name="context"/>; returns how many.</summary>
    internal int CopyRecent(int[] context)
    {
        int recent = Math.Min(_recent.Count, RepetitionWindow);
        _recent.CopyTo(_recent.Count - recent, context, 0, recent);
        return recent;
    }

    internal void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ObjectDisposedException.ThrowIf(Model.IsDisposed, Model);
    }

    /// <summary>True (with the exception a call would throw) when this session or its model is disposed.</summary>
    internal bool IsUnusable(out Exception? disposed)
    {
        disposed = _disposed ? new ObjectDisposedException(nameof(LlamaSession)) : Model.IsDisposed ? new ObjectDisposedException(nameof(Llama)) : null;
        return disposed is not null;
    }

    Lease Enter()
    {
        ThrowIfUnusable();
        long id = Interlocked.Increment(ref s_nextLeaseId);
        if (Interlocked.CompareExchange(ref _owner, id, 0) != 0)
            throw new InvalidOperationException("this session is already in use by another call; create one session per concurrent user with Llama.CreateSession()");
        BitLlamaTelemetry.ActiveSessions.Add(1);
        return new Lease(this, id);
    }

    /// <summary>True while a call (or an unfinished streamed completion) holds the session.</summary>
    internal bool InUse => Interlocked.Read(ref _owner) != 0;

    /// <summary>
    /// The right to use the session for one call. The session keeps only the lease's id, never the lease, so a
    /// streamed completion abandoned without DisposeAsync becomes garbage and its finalizer frees the session.
    /// </summary>
    sealed class Lease(LlamaSession session, long id) : IDisposable
    {
        int _released;

        public void Dispose()
        {
            Release();
            GC.SuppressFinalize(this);
        }

        ~Lease() => Release();

        void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) != 0) return;
            Interlocked.CompareExchange(ref session._owner, 0, id);
            BitLlamaTelemetry.ActiveSessions.Add(-1);
        }
    }

    /// <summary>Stops a running call within one token and makes every later call throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose() => _disposed = true;
}
