using BitTtt.Formats;
using BitTtt.Inference;
using BitTtt.Inference.Engine;
using BitTtt.Tokenization;

namespace BitTtt.Native;

/// <summary>
/// A model behind a handle: a <see cref="Llama"/> when it has a tokenizer (a .bitt, a model directory,
/// or config + safetensors + tokenizer.json), or bare weights when it has none (the seed's
/// <c>BitLlama(config, "model.safetensors")</c>): token ids in, logits out, no text.
/// </summary>
public sealed class NativeModel
{
    NativeModel(InferenceWeights weights, Llama? llama, string source)
    {
        Weights = weights;
        Llama = llama;
        Source = source;
    }

    int _references = 1;   // the model handle, plus one per live session

    public InferenceWeights Weights { get; }
    public Llama? Llama { get; }

    /// <summary>A session now shares the weights; they stay loaded until it is freed.</summary>
    internal void AddReference() => Interlocked.Increment(ref _references);

    /// <summary>The model handle or a session let go; the last one disposes the <see cref="Llama"/>
    /// (bitttt.h: freeing a model ends that handle only, its sessions keep working).</summary>
    internal void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0) Llama?.Dispose();
    }
    public BitLlamaTokenizer? Tokenizer => Llama?.Tokenizer;
    /// <summary>What generation uses when no options are given: the model's stored defaults (a model without a tokenizer cannot generate; it gets the library's).</summary>
    public SamplingOptions DefaultSampling => Llama?.DefaultSampling ?? new SamplingOptions();
    /// <summary>The file or directory it was loaded from, for error messages.</summary>
    public string Source { get; }

    /// <summary>A .bitt file or a model directory (docs/model.md §4), auto-detected.</summary>
    public static NativeModel Load(string path, InferenceOptions options)
    {
        var llama = Llama.LoadAuto(path, options);
        return new NativeModel(llama.Weights, llama, path);
    }

    /// <summary>Config JSON (docs/model.md §1) + a bare safetensors file (docs/model.md §4.1), and optionally a tokenizer.json.</summary>
    public static NativeModel FromConfig(string configJson, string weightsPath, string? tokenizerPath, InferenceOptions options)
    {
        var config = BitLlamaConfig.FromJson(configJson, "config");
        var tokenizer = tokenizerPath is null ? null : BitLlamaTokenizer.Load(tokenizerPath);
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"{weightsPath}: safetensors file not found", weightsPath);
        using var reader = SafeTensorsReader.Open(weightsPath);
        BitLlamaWeights.Validate(reader, config);
        if (tokenizer is null)
        {
            var weights = InferenceWeights.Load(config, (name, shape) => reader.ReadFloat32(name, shape), options);
            return new NativeModel(weights, null, weightsPath);
        }
        var tensors = BitLlamaWeights.Expected(config)
            .Select(t => new SafeTensorData(t.Name, t.Shape, reader.ReadFloat32(t.Name, t.Shape)))
            .ToList();
        var llama = Llama.FromWeights(config, tokenizer, tensors, options);
        return new NativeModel(llama.Weights, llama, weightsPath);
    }

    /// <summary>The tokenizer, or an error saying this model was loaded without one.</summary>
    public BitLlamaTokenizer RequireTokenizer(string operation) =>
        Tokenizer ?? throw new NativeException(Status.Unsupported,
            $"{operation} needs a tokenizer, but the model from {Path.GetFileName(Source)} was loaded without one (give a tokenizer.json, or load a .bitt file or model directory)");
}

/// <summary>
/// A session behind a handle: its own TTT state over a shared model. Calls on one session must not
/// overlap (the second gets <see cref="Status.Busy"/>); different sessions run in parallel.
/// </summary>
public sealed class NativeSession
{
    readonly LlamaSession? _session;     // models with a tokenizer: the full Llama session
    readonly SequenceState? _state;      // bare models: the engine state only
    int _busy;

    public NativeSession(NativeModel model)
    {
        Model = model;
        if (model.Llama is { } llama) _session = llama.CreateSession();
        else _state = new SequenceState(model.Weights);
        model.AddReference();
    }

    /// <summary>Ends the session and lets go of its model (called once, by <c>bitttt_session_free</c>).</summary>
    public void Free()
    {
        _session?.Dispose();
        Model.Release();
    }

    public NativeModel Model { get; }
    public int VocabSize => Model.Weights.Config.VocabSize;
    public long Position => _session?.Position ?? _state!.Position;

    /// <summary>Feeds <paramref name="tokens"/> and copies the last token's logits into <paramref name="logits"/> (V, or empty).</summary>
    public void Feed(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        if (tokens.IsEmpty) throw new ArgumentException("no tokens given (n_tokens is 0)");
        if (!logits.IsEmpty && logits.Length < VocabSize)
            throw new NativeException(Status.BufferTooSmall, $"the logits buffer holds {logits.Length} floats, the model's vocab_size is {VocabSize}");
        if (_session is not null)
        {
            var row = _session.Logits(tokens);
            if (!logits.IsEmpty) row.CopyTo(logits);
            return;
        }
        using var _ = Enter();
        Forward.Run(_state!, tokens, logits.IsEmpty ? default : logits[..VocabSize]);
    }

    public void Reset()
    {
        if (_session is not null) { _session.ResetState(); return; }
        using var _ = Enter();
        _state!.Reset();
    }

    public void SaveMemory(string path)
    {
        if (_session is not null) { _session.SaveMemory(path); return; }
        using var _ = Enter();
        _state!.SaveMemory(path);
    }

    public void LoadMemory(string path)
    {
        if (_session is not null) { _session.LoadMemory(path); return; }
        using var _ = Enter();
        _state!.LoadMemory(path);
    }

    public void Learn(string text)
    {
        Model.RequireTokenizer("learn");
        _session!.Learn(text);
    }

    /// <summary>Generates from <paramref name="prompt"/>; <paramref name="onPiece"/> gets each whole-character piece and returns false to stop.</summary>
    public void Generate(string prompt, SamplingOptions options, Func<string, bool> onPiece)
    {
        Model.RequireTokenizer("generate");
        options.Validate(NameStyle.Snake);
        // CompleteStreamingAsync is the public API that takes full sampling options and streams; nothing in it
        // waits on I/O, so draining it synchronously on the caller's thread is safe (native threads have no
        // synchronization context to deadlock on).
        var pieces = _session!.CompleteStreamingAsync(prompt, options).GetAsyncEnumerator();
        try
        {
            while (pieces.MoveNextAsync().AsTask().GetAwaiter().GetResult())
                if (!onPiece(pieces.Current)) break;
        }
        finally
        {
            pieces.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>The reply to <paramref name="messages"/> (<see cref="LlamaSession.ReplyStreamingAsync"/>), streamed like <see cref="Generate"/>.</summary>
    public void Chat(IReadOnlyList<BitTtt.Tokenization.ChatTurn> messages, SamplingOptions options, Func<string, bool> onPiece)
    {
        Model.RequireTokenizer("chat");
        options.Validate(NameStyle.Snake);
        var updates = _session!.ReplyStreamingAsync(messages, options).GetAsyncEnumerator();
        try
        {
            while (updates.MoveNextAsync().AsTask().GetAwaiter().GetResult())
                if (updates.Current.Text.Length > 0 && !onPiece(updates.Current.Text)) break;
        }
        finally
        {
            updates.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    Scope Enter()
    {
        if (Interlocked.Exchange(ref _busy, 1) != 0)
            throw new InvalidOperationException("this session is already in use by another call; create one session per thread");
        return new Scope(this);
    }

    readonly struct Scope(NativeSession session) : IDisposable
    {
        public void Dispose() => Volatile.Write(ref session._busy, 0);
    }
}
