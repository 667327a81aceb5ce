using System.Runtime.CompilerServices;
using BitTtt.Inference.Engine;
using BitTtt.Sampling;

namespace BitTtt.Inference;

/// <summary>
/// One sequence's view of a shared <see cref="Llama"/>: the TTT memory (per layer W and G, or S and the conv tails for delta), the
/// logits of the last token fed, and the recent tokens the repetition penalty looks at. Calls on one
/// session must not overlap (a second concurrent call throws); different sessions run in parallel.
/// Every completion continues the memory: the prompt and the generated text are learned as they pass.
/// </summary>
public sealed class LlamaSession : IDisposable
{
    /// <summary>How many recent tokens the repetition penalty considers.</summary>
    public const int RepetitionWindow = 256;

    readonly Llama _model;
    readonly SequenceState _state;
    readonly float[] _logits;
    readonly List<int> _recent = new();
    bool _hasLogits;
    int _busy;
    bool _disposed;

    internal LlamaSession(Llama model)
    {
        _model = model;
        _state = new SequenceState(model.Weights);
        _logits = new float[model.Config.VocabSize];
    }

    /// <summary>Tokens this session's memory has consumed since the last reset or load.</summary>
    public long Position => _state.Position;

    /// <summary>Feeds <paramref name="tokens"/> (advancing the memory) and returns the logits of the last one.</summary>
    public float[] Logits(ReadOnlySpan<int> tokens)
    {
        using var _ = Enter();
        if (tokens.IsEmpty) throw new ArgumentException("no tokens given", nameof(tokens));
        Feed(tokens);
        return (float[])_logits.Clone();
    }

    /// <summary>Forgets everything: the TTT state back to zeros, position 0.</summary>
    public void ResetState()
    {
        using var _ = Enter();
        _state.Reset();
        _recent.Clear();
        _hasLogits = false;
    }

    /// <summary>Advances the memory on <paramref name="text"/> without generating.</summary>
    public void Learn(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        using var _ = Enter();
        var ids = _model.Tokenizer.Encode(text);
        if (ids.Length > 0) Feed(ids);
    }

    /// <summary>Writes the memory (see <see cref="MemoryFile"/>) atomically.</summary>
    public void SaveMemory(string path)
    {
        using var _ = Enter();
        MemoryFile.Save(_state, path);
    }

    /// <summary>Replaces the memory with a saved one; rejects a memory file from a different model.</summary>
    public void LoadMemory(string path)
    {
        using var _ = Enter();
        MemoryFile.Load(_state, path);
        _recent.Clear();
        _hasLogits = false;
    }

    public void StreamCompletion(string prompt, int maxTokens, float temperature, Func<string, bool> onToken)
    {
        ArgumentNullException.ThrowIfNull(onToken);
        var options = new SamplingOptions { MaxTokens = maxTokens, Temperature = temperature };
        using var _ = Enter();
        foreach (var piece in Generate(prompt, options, CancellationToken.None))
            if (!onToken(piece)) break;
    }

    public string Complete(string prompt, SamplingOptions? options = null)
    {
        using var _ = Enter();
        return string.Concat(Generate(prompt, options ?? new SamplingOptions(), CancellationToken.None));
    }

    public async IAsyncEnumerable<string> CompleteStreamingAsync(string prompt, SamplingOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        options ??= new SamplingOptions();
        options.Validate();
        ArgumentNullException.ThrowIfNull(prompt);
        await Task.Run(() => { }, cancellationToken).ConfigureAwait(false);   // the work continues off the caller's context
        using var _ = Enter();
        foreach (var piece in Generate(prompt, options, cancellationToken))
            yield return piece;
    }

    /// <summary>
    /// The generation loop: feed the prompt (batched), then sample, stream whole UTF-8 characters through
    /// the stop-string filter, and feed each emitted token back. Stops at max tokens, end-of-sequence,
    /// a stop string, or when the consumer stops enumerating.
    /// </summary>
    IEnumerable<string> Generate(string prompt, SamplingOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options.Validate();
        var tokenizer = _model.Tokenizer;
        var ids = tokenizer.Encode(prompt);
        if (ids.Length == 0 && !_hasLogits)
            throw new ArgumentException("the prompt is empty and the session has no context to continue from; give a prompt or Learn(text) first", nameof(prompt));
        if (ids.Length > 0) Feed(ids);
        // A model may have more rows than its tokenizer has tokens (vocab_size padded, or the seed config's 16384
        // with a smaller tokenizer); those ids have no text, so they are never candidates.
        int vocab = Math.Min(_logits.Length, tokenizer.VocabSize);
        var sampler = new Sampler(options, vocab, tokenizer.Utf8Table);   // never emits invalid UTF-8
        var decoder = tokenizer.CreateStreamDecoder();
        var filter = new StopStringFilter(options.StopStrings);
        var context = new int[RepetitionWindow];
        for (int i = 0; i < options.MaxTokens && !filter.Stopped; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int recent = Math.Min(_recent.Count, RepetitionWindow);
            _recent.CopyTo(_recent.Count - recent, context, 0, recent);
            int next = sampler.Sample(_logits.AsSpan(0, vocab), context.AsSpan(0, recent));
            if (next == tokenizer.EosId) break;
            Feed([next]);
            string text = filter.Append(decoder.Append(next));
            if (text.Length > 0) yield return text;
        }
        string rest = filter.Append(decoder.Flush()) + filter.Flush();
        if (rest.Length > 0) yield return rest;
    }

    void Feed(ReadOnlySpan<int> ids)
    {
        Forward.Run(_state, ids, _logits);
        _hasLogits = true;
        foreach (var id in ids.Length > RepetitionWindow ? ids[^RepetitionWindow..] : ids) _recent.Add(id);
        if (_recent.Count > 2 * RepetitionWindow) _recent.RemoveRange(0, _recent.Count - RepetitionWindow);
    }

    Scope Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.Exchange(ref _busy, 1) != 0)
            throw new InvalidOperationException("this session is already in use by another call; create one session per concurrent user with Llama.CreateSession()");
        return new Scope(this);
    }

    readonly struct Scope(LlamaSession session) : IDisposable
    {
        public void Dispose() => Volatile.Write(ref session._busy, 0);
    }

    public void Dispose() => _disposed = true;
}
