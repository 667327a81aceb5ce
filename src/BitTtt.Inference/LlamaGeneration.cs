using BitTtt.Inference.Diagnostics;
using BitTtt.Inference.Sampling;
using BitTtt.Tokenization;

namespace BitTtt.Inference;

/// <summary>
/// One completion on a session, as steps: <see cref="Prefill"/> feeds the prompt one engine batch at a time,
/// <see cref="Next"/> samples tokens until it has a piece of text to emit. Between steps nothing is running,
/// so the sync and async surfaces share this code and every step checks cancellation and disposal first
/// (a cancelled or disposed generation stops within one token, or one prompt batch).
/// The caller holds the session's lease for the whole generation, and disposes the generation when done with it
/// (which ends its telemetry if it stopped early).
/// <para>A fresh session (position 0) of a model with a <see cref="Llama.PrefixCache"/> starts from the longest cached
/// state whose tokens begin the prompt's, feeds only the rest, and caches its state after the prompt and after the
/// response: the output is the same as without the cache.</para>
/// </summary>
internal sealed class LlamaGeneration : IDisposable
{
    readonly LlamaSession _session;
    readonly SamplingOptions _options;
    readonly string? _prompt;
    readonly int[]? _promptIds;
    readonly int? _endOfTurn;
    readonly BitLlamaTokenizer _tokenizer;
    readonly int _vocab;
    readonly Sampler _sampler;
    readonly Utf8StreamDecoder _decoder;
    readonly StopStringFilter _filter;
    readonly int[] _context = new int[LlamaSession.RepetitionWindow];
    readonly List<int> _read = new();   // tokens this generation put in the memory (prompt, then sampled), when caching
    PrefixStateCache? _cache;
    GenerationTelemetry? _telemetry;
    bool _flushed;

    public LlamaGeneration(LlamaSession session, string prompt, SamplingOptions options)
        : this(session, options, prompt ?? throw new ArgumentNullException(nameof(prompt)), null, null)
    {
    }

    /// <summary>
    /// A reply in a chat template (docs/model.md §6.3): <paramref name="promptIds"/> are fed as they are, and
    /// generation also stops when the model produces <paramref name="endOfTurn"/> (a token-level stop). If the
    /// session's memory holds an open turn (its last token is not the end of turn), the end of turn is fed first.
    /// </summary>
    public LlamaGeneration(LlamaSession session, int[] promptIds, SamplingOptions options, int endOfTurn)
        : this(session, options, null, promptIds ?? throw new ArgumentNullException(nameof(promptIds)), endOfTurn)
    {
    }

    LlamaGeneration(LlamaSession session, SamplingOptions options, string? prompt, int[]? promptIds, int? endOfTurn)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _session = session;
        _prompt = prompt;
        _promptIds = promptIds;
        _endOfTurn = endOfTurn;
        _options = options;
        _tokenizer = session.Model.Tokenizer;
        // A model may have more rows than its tokenizer has tokens (vocab_size padded, or the seed config's 16384
        // with a smaller tokenizer); those ids have no text, so they are never candidates.
        _vocab = Math.Min(session.Model.Config.VocabSize, _tokenizer.VocabSize);
        _sampler = new Sampler(options, _vocab, _tokenizer.Utf8Table);   // never emits invalid UTF-8
        _decoder = _tokenizer.CreateStreamDecoder();
        _filter = new StopStringFilter(options.StopStrings);
    }

    public int PromptTokens { get; private set; }
    /// <summary>Tokens of the prompt restored from the prefix cache rather than fed (counted in <see cref="PromptTokens"/>).</summary>
    public int CachedPromptTokens { get; private set; }
    public int CompletionTokens { get; private set; }
    /// <summary>Set once generation has ended.</summary>
    public LlamaFinishReason? FinishReason { get; private set; }

    /// <summary>Tokenizes and feeds the prompt, checking <paramref name="cancellationToken"/> between engine batches.</summary>
    public void Prefill(CancellationToken cancellationToken)
    {
        _session.ThrowIfUnusable();
        cancellationToken.ThrowIfCancellationRequested();
        _telemetry = new GenerationTelemetry(_options);
        var ids = _promptIds ?? _tokenizer.Encode(_prompt!);
        if (_endOfTurn is int end && _session.Position > 0 && _session.LastToken != end)
            ids = [end, .. ids];   // close the turn a reply left open (cut by its limit, a stop string or a cancellation)
        if (ids.Length == 0 && !_session.HasLogits)
            throw new ArgumentException("the prompt is empty and the session has no context to continue from; give a prompt or Learn(text) first", "prompt");
        // The cache's keys are every token read since an empty memory, so only a fresh session can use it.
        if (_session.Model.PrefixCache is { } cache && _session.Position == 0 && !_session.HasLogits && ids.Length > 0)
        {
            _cache = cache;
            _read.AddRange(ids);
            CachedPromptTokens = cache.Restore(_session, ids);
        }
        if (_cache is not null && CachedPromptTokens < ids.Length - 1)
        {
            // Kept without the prompt's last token: in the next turn's longer prompt that token may merge with what follows.
            _session.FeedChecked(ids.AsSpan(CachedPromptTokens, ids.Length - 1 - CachedPromptTokens), cancellationToken);
            _cache.Store(ids.AsSpan(0, ids.Length - 1), _session);
            _session.FeedChecked(ids.AsSpan(ids.Length - 1), cancellationToken);
        }
        else _session.FeedChecked(ids.AsSpan(CachedPromptTokens), cancellationToken);
        PromptTokens = ids.Length;
        _telemetry.PromptFed(ids.Length - CachedPromptTokens, CachedPromptTokens);
    }

    /// <summary>
    /// Samples and feeds tokens until one yields text to emit (returned), or generation ends: then the held-back
    /// rest is returned once (if any) and null after that.
    /// </summary>
    public string? Next(CancellationToken cancellationToken)
    {
        while (FinishReason is null)
        {
            _session.ThrowIfUnusable();
            cancellationToken.ThrowIfCancellationRequested();
            if (_filter.Stopped) { FinishReason = LlamaFinishReason.StopString; break; }
            if (CompletionTokens >= _options.MaxTokens) { FinishReason = LlamaFinishReason.Length; break; }
            int recent = _session.CopyRecent(_context);
            int next = _sampler.Sample(_session.CurrentLogits[.._vocab], _context.AsSpan(0, recent));
            if (next == _tokenizer.EosId) { FinishReason = LlamaFinishReason.EndOfSequence; break; }
            if (next == _endOfTurn) { FinishReason = LlamaFinishReason.EndOfTurn; break; }   // not fed: the next turn closes it
            _telemetry?.FirstToken();
            _session.FeedChecked([next], cancellationToken);
            if (_cache is not null) _read.Add(next);
            CompletionTokens++;
            string text = _filter.Append(_decoder.Append(next));
            if (text.Length > 0) return text;
        }
        if (_flushed) return null;
        _flushed = true;
        string rest = _filter.Append(_decoder.Flush()) + _filter.Flush();
        if (_filter.Stopped) FinishReason = LlamaFinishReason.StopString;
        _cache?.Store(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_read), _session);   // the state after the response: what a client resending the history reads next
        _telemetry?.End(PromptTokens, CompletionTokens, FinishReason);
        return rest.Length > 0 ? rest : null;
    }

    /// <summary>Runs the whole generation on the calling thread.</summary>
    public LlamaCompletion RunToEnd(CancellationToken cancellationToken)
    {
        Prefill(cancellationToken);
        var text = new System.Text.StringBuilder();
        for (string? piece = Next(cancellationToken); piece is not null; piece = Next(cancellationToken)) text.Append(piece);
        return Result(text.ToString());
    }

    public LlamaCompletion Result(string text) => new(text, PromptTokens, CompletionTokens, FinishReason!.Value) { CachedPromptTokens = CachedPromptTokens };

    /// <summary>Ends the telemetry of a generation stopped before its end (cancelled, disposed, failed or abandoned).</summary>
    public void Dispose() => _telemetry?.End(PromptTokens, CompletionTokens, null);
}
