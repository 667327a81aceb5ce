using System.Runtime.ExceptionServices;
using BitTtt.Inference.Diagnostics;
using BitTtt.Inference.Sampling;
using BitTtt.Tokenization;

namespace BitTtt.Inference;

/// <summary>
/// One call on a session as a sequence of engine steps: the prompt (or the tokens of <c>Learn</c> and <c>Logits</c>)
/// fed in chunks, then, for a completion, one sampled token per step until it ends. A driver advances it: the
/// model's <see cref="StepScheduler"/> (sessions decoded together) or <see cref="DriveAlone"/> (batching off); both run
/// the same <see cref="Plan"/> → step → <see cref="AfterStep"/> cycle, so the text is the same either way.
/// <para>Pieces of text are handed to the reader when a step produces them. A streamed completion's next token is fed
/// only once its reader asks for the next piece (nothing runs ahead of the reader, so the memory holds exactly the
/// tokens of the pieces read); sampling it may run earlier, which changes nothing. The reader checks disposal and
/// cancellation before every piece; a driver checks them before every step and fails the call with the same exceptions.</para>
/// <para>A completion stopped by <see cref="SamplingOptions.MaxTokens"/> or a stop string in the middle of a multi-byte
/// character drops that character's bytes: the text never ends in U+FFFD.</para>
/// <para>A completion on a fresh session (position 0) of a model with a <see cref="Llama.PrefixCache"/> starts from the
/// longest cached state whose tokens begin the prompt's, feeds only the rest, and caches its state after the prompt
/// (without its last token) and after the response: the output is the same as without the cache.</para>
/// The caller holds the session's lease for the whole call, and disposes the call when done with it (which ends its
/// telemetry if it stopped early).
/// </summary>
internal sealed class LlamaGeneration : IDisposable
{
    readonly LlamaSession _session;
    readonly SamplingOptions? _options;      // null: feed only (Learn, Logits)
    readonly CancellationToken _cancellation;
    readonly BitLlamaTokenizer _tokenizer;
    readonly int _vocab;
    readonly Sampler? _sampler;
    readonly Utf8StreamDecoder? _decoder;
    readonly StopStringFilter? _filter;
    readonly int[] _context = new int[LlamaSession.RepetitionWindow];
    readonly bool _collect;                  // the whole text at once (Generate, Learn, Logits): never waits for a reader
    readonly System.Text.StringBuilder? _text;
    readonly Queue<string> _pieces = new();  // produced, not yet read (guarded by the model's handoff lock)
    readonly SemaphoreSlim _signal = new(0); // released when a piece, the end or a failure is handed over
    int[] _ids = [];
    int _fed;                                // prompt tokens fed (or restored from the prefix cache)
    readonly List<int> _read = new();        // tokens this completion put in the memory (prompt, then sampled), when caching
    PrefixStateCache? _cache;
    int _storeAt = -1;                       // the prompt position whose state goes into the cache, or −1
    GenerationTelemetry? _telemetry;
    int _next = -1;                          // the sampled token the next decode step feeds
    int _planned;                            // tokens of the step in flight
    string? _produced;                       // text of the last step, handed over by Deliver
    bool _ended;                             // the driver's view
    bool _endDelivered;                      // the reader's view: the end was handed over (after the last piece)
    volatile bool _demand;                   // a streamed reader waits for the next piece
    Exception? _failure;

    LlamaGeneration(LlamaSession session, SamplingOptions? options, bool collect, CancellationToken cancellation)
    {
        _session = session;
        _options = options;
        _collect = collect;
        _cancellation = cancellation;
        _tokenizer = session.Model.Tokenizer;
        _text = collect && options is not null ? new System.Text.StringBuilder() : null;
        // A model may have more rows than its tokenizer has tokens (vocab_size padded, or the seed config's 16384
        // with a smaller tokenizer); those ids have no text, so they are never candidates.
        _vocab = Math.Min(session.Model.Config.VocabSize, _tokenizer.VocabSize);
        if (options is null) return;
        options.Validate();
        _sampler = new Sampler(options, _vocab, _tokenizer.Utf8Table);   // never emits invalid UTF-8
        _decoder = _tokenizer.CreateStreamDecoder();
        _filter = new StopStringFilter(options.StopStrings);
    }

    /// <summary>A completion of <paramref name="prompt"/>; <paramref name="collect"/> for the whole text at once.</summary>
    public static LlamaGeneration Completion(LlamaSession session, string prompt, SamplingOptions options, bool collect, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        var generation = new LlamaGeneration(session, options, collect, cancellation);
        generation._promptText = prompt;
        return generation;
    }

    /// <summary>
    /// A reply in a chat template (docs/model.md §6.3): <paramref name="promptIds"/> are fed as they are, and generation
    /// also stops when the model produces <paramref name="endOfTurn"/> (a token-level stop). If the session's memory holds
    /// an open turn (its last token is not the end of turn), the end of turn is fed first.
    /// </summary>
    public static LlamaGeneration Reply(LlamaSession session, int[] promptIds, SamplingOptions options, int endOfTurn, bool collect, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(promptIds);
        ArgumentNullException.ThrowIfNull(options);
        var generation = new LlamaGeneration(session, options, collect, cancellation);
        generation._promptIds = promptIds;
        generation._endOfTurn = endOfTurn;
        return generation;
    }

    /// <summary>Feeding <paramref name="tokens"/> without generating (Learn, Logits); the last one's logits are kept.</summary>
    public static LlamaGeneration Feed(LlamaSession session, int[] tokens, CancellationToken cancellation) =>
        new(session, null, collect: true, cancellation) { _ids = tokens };

    string? _promptText;
    int[]? _promptIds;
    int? _endOfTurn;

    public int PromptTokens { get; private set; }
    /// <summary>Tokens of the prompt restored from the prefix cache rather than fed (counted in <see cref="PromptTokens"/>).</summary>
    public int CachedPromptTokens { get; private set; }
    public int CompletionTokens { get; private set; }
    /// <summary>Set once a completion has ended.</summary>
    public LlamaFinishReason? FinishReason { get; private set; }

    /// <summary>
    /// Tokenizes the prompt and looks up the prefix cache (on the reader's thread, before any step: the session is not in
    /// one); an empty prompt needs earlier context.
    /// </summary>
    public void Start()
    {
        if (_promptText is null && _promptIds is null) return;
        _session.ThrowIfUnusable();
        _cancellation.ThrowIfCancellationRequested();
        _telemetry = new GenerationTelemetry(_options!);
        _ids = _promptIds ?? _tokenizer.Encode(_promptText!);
        if (_endOfTurn is int end && _session.Position > 0 && _session.LastToken != end)
            _ids = [end, .. _ids];   // close the turn a reply left open (cut by its limit, a stop string or a cancellation)
        _promptText = null;
        _promptIds = null;
        if (_ids.Length == 0 && !_session.HasLogits)
            throw new ArgumentException("the prompt is empty and the session has no context to continue from; give a prompt or Learn(text) first", "prompt");
        // The cache's keys are every token read since an empty memory, so only a fresh session can use it.
        if (_session.Model.PrefixCache is { } cache && _session.Position == 0 && !_session.HasLogits && _ids.Length > 0)
        {
            _cache = cache;
            _read.AddRange(_ids);
            CachedPromptTokens = _fed = cache.Restore(_session, _ids);
            // Kept without the prompt's last token: in the next turn's longer prompt that token may merge with what follows.
            if (_fed < _ids.Length - 1) _storeAt = _ids.Length - 1;
        }
        if (_fed == _ids.Length) PromptFed();
    }

    // ----- the driver's side (the scheduler thread, or the caller's when batching is off) -----

    /// <summary>The session this call runs on.</summary>
    internal LlamaSession Session => _session;

    /// <summary>True once the prompt is fed: each further step feeds one sampled token.</summary>
    internal bool Decoding => _fed >= _ids.Length;

    /// <summary>True when the next step can include this call: prompt left, or a sampled token a reader is waiting for.</summary>
    internal bool Ready => !_ended && _failure is null && (_fed < _ids.Length || _collect || _demand);

    /// <summary>Disposal or cancellation the driver must fail the call with before its next step, or null.</summary>
    internal Exception? StopReason()
    {
        if (_session.IsUnusable(out var disposed)) return disposed;
        return _cancellation.IsCancellationRequested ? new OperationCanceledException(_cancellation) : null;
    }

    /// <summary>
    /// The tokens this call feeds in the next step, at most <paramref name="budget"/> (a prompt chunk, or the one sampled
    /// token), and whether that step must compute logits; 0 when it has nothing to feed (it may have just ended).
    /// </summary>
    internal int Plan(Span<int> destination, int budget, out bool wantLogits)
    {
        wantLogits = false;
        if (_ended || _failure is not null || budget <= 0) return 0;
        if (_fed < _ids.Length)
        {
            int end = _fed < _storeAt ? _storeAt : _ids.Length;   // the cached state is the one before the prompt's last token
            int n = Math.Min(Math.Min(budget, destination.Length), end - _fed);
            _ids.AsSpan(_fed, n).CopyTo(destination);
            wantLogits = _fed + n == _ids.Length;            // every call keeps its last token's logits
            return _planned = n;
        }
        if (_options is null) return 0;
        if (_next < 0) SampleNext();                          // a completion that starts from the session's logits
        if (_ended) return 0;
        destination[0] = _next;
        wantLogits = true;
        return _planned = 1;
    }

    /// <summary>After the step that fed <see cref="Plan"/>'s tokens: count them, decode the text, sample the next token.
    /// Different calls' <c>AfterStep</c> may run at once on different threads.</summary>
    internal void AfterStep()
    {
        int n = _planned;
        _planned = 0;
        if (_fed < _ids.Length)
        {
            _session.Fed(_ids.AsSpan(_fed, n), _fed + n == _ids.Length);
            _fed += n;
            if (_fed == _storeAt) _cache!.Store(_ids.AsSpan(0, _storeAt), _session);
            if (_fed < _ids.Length) return;
            if (_options is null) _ended = true;
            else
            {
                PromptFed();
                SampleNext();
            }
            return;
        }
        _session.Fed([_next], true);
        if (_cache is not null) _read.Add(_next);
        CompletionTokens++;
        string text = _filter!.Append(_decoder!.Append(_next));
        _next = -1;
        if (text.Length > 0) Produce(text);
        SampleNext();
    }

    /// <summary>The head of each decode step: stop checks, then sample (docs/inference.md, "How a token is chosen").</summary>
    void SampleNext()
    {
        if (_filter!.Stopped) { Finish(LlamaFinishReason.StopString); return; }
        if (CompletionTokens >= _options!.MaxTokens) { Finish(LlamaFinishReason.Length); return; }
        int recent = _session.CopyRecent(_context);
        int next = _sampler!.Sample(_session.CurrentLogits[.._vocab], _context.AsSpan(0, recent));
        if (next == _tokenizer.EosId) { Finish(LlamaFinishReason.EndOfSequence); return; }
        if (next == _endOfTurn) { Finish(LlamaFinishReason.EndOfTurn); return; }   // not fed: the next turn closes it
        _telemetry?.FirstToken();
        _next = next;
    }

    void PromptFed()
    {
        PromptTokens = _ids.Length;
        _telemetry?.PromptFed(_ids.Length - CachedPromptTokens, CachedPromptTokens);
    }

    /// <summary>Ends the completion: the bytes of an unfinished character are dropped (no U+FFFD), held-back text is released.</summary>
    void Finish(LlamaFinishReason reason)
    {
        _decoder!.Reset();
        string rest = _filter!.Flush();
        FinishReason = _filter.Stopped ? LlamaFinishReason.StopString : reason;
        if (rest.Length > 0) Produce(rest);
        _ended = true;
        _cache?.Store(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_read), _session);   // the state after the response: what a client resending the history reads next
        _telemetry?.End(PromptTokens, CompletionTokens, FinishReason);
    }

    void Produce(string text)
    {
        if (_text is not null) _text.Append(text);
        else _produced = _produced is null ? text : _produced + text;
    }

    /// <summary>
    /// Hands this step's result to the reader (under <paramref name="handoff"/>; <paramref name="wake"/> releases a waiting
    /// reader); true when the call needs no more steps for now.
    /// </summary>
    internal bool Deliver(Lock handoff, bool wake)
    {
        lock (handoff)
        {
            bool signal = _ended && !_endDelivered;
            if (_produced is not null)
            {
                _pieces.Enqueue(_produced);
                _produced = null;
                _demand = false;
                signal = true;
            }
            _endDelivered = _ended;
            if (signal && wake) _signal.Release();
            return !Ready;
        }
    }

    /// <summary>Ends the call with <paramref name="failure"/> (disposal, cancellation); the reader rethrows it.</summary>
    internal void Fail(Exception failure, Lock handoff)
    {
        lock (handoff)
        {
            _failure ??= failure;
            _signal.Release();                   // a reader waiting in the scheduler's mode; harmless otherwise
        }
    }

    /// <summary>Registers a reader's wish for the next piece (under the handoff lock).</summary>
    internal void Demand() => _demand = true;

    // ----- the reader's side -----

    /// <summary>The next piece: null at the end. Throws on disposal, cancellation or a failed step.</summary>
    public async ValueTask<string?> NextAsync(StepScheduler? scheduler)
    {
        while (true)
        {
            if (TryTake(out var piece, out bool end)) return end ? null : piece;
            if (scheduler is null) await Task.Run(DriveAlone).ConfigureAwait(false);
            else
            {
                scheduler.Submit(this, demand: true);
                await _signal.WaitAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary><see cref="NextAsync"/> blocking the calling thread (which drives the steps itself when batching is off).</summary>
    public string? Next(StepScheduler? scheduler)
    {
        while (true)
        {
            if (TryTake(out var piece, out bool end)) return end ? null : piece;
            if (scheduler is null) DriveAlone();
            else
            {
                scheduler.Submit(this, demand: true);
                _signal.Wait();
            }
        }
    }

    /// <summary>Runs the call to its end and returns the whole text (completions) or nothing (feeding).</summary>
    public async ValueTask<LlamaCompletion?> RunToEndAsync(StepScheduler? scheduler)
    {
        while (await NextAsync(scheduler).ConfigureAwait(false) is not null) { }
        return _options is null ? null : Result();
    }

    /// <summary><see cref="RunToEndAsync"/> on the calling thread.</summary>
    public LlamaCompletion? RunToEnd(StepScheduler? scheduler)
    {
        while (Next(scheduler) is not null) { }
        return _options is null ? null : Result();
    }

    LlamaCompletion Result() => new(_text?.ToString() ?? "", PromptTokens, CompletionTokens, FinishReason!.Value) { CachedPromptTokens = CachedPromptTokens };

    /// <summary>Ends the telemetry of a completion stopped before its end (cancelled, disposed, failed or abandoned).</summary>
    public void Dispose() => _telemetry?.End(PromptTokens, CompletionTokens, null);

    /// <summary>A piece to return, or the end (after the disposal and cancellation checks); false when a step is needed.</summary>
    bool TryTake(out string? piece, out bool end)
    {
        var handoff = _session.Model.Handoff;
        lock (handoff)
        {
            piece = null;
            end = false;
            if (_failure is not null) ExceptionDispatchInfo.Throw(_failure);
            _session.ThrowIfUnusable();
            _cancellation.ThrowIfCancellationRequested();
            if (_pieces.TryDequeue(out piece)) return true;
            end = _endDelivered;
            return end;
        }
    }

    /// <summary>Batching off: steps this call alone on the calling thread until it has a piece, ends or fails.</summary>
    void DriveAlone()
    {
        var handoff = _session.Model.Handoff;
        Span<int> tokens = stackalloc int[Engine.SequenceState.MaxBatch];
        lock (handoff) _demand = true;
        while (Ready)
        {
            if (StopReason() is { } stop) { Fail(stop, handoff); return; }
            int n = Plan(tokens, tokens.Length, out bool wantLogits);
            if (n > 0)
            {
                Engine.Forward.RunInto(_session.State, tokens[..n], wantLogits ? _session.LogitsBuffer : null);
                AfterStep();
            }
            Deliver(handoff, wake: false);
        }
    }
}
