using System.Runtime.CompilerServices;
using BitTtt.Formats;
using BitTtt.Inference.Engine;
using BitTtt.Tokenization;

namespace BitTtt.Inference;

/// <summary>
/// A loaded BitLlama model for text generation on the CPU, with no native dependency. The weights are
/// immutable and shared: create one <see cref="LlamaSession"/> per conversation or concurrent user
/// (each owns its TTT state). The convenience methods on this class (<see cref="Complete"/>,
/// <see cref="CompleteAsync"/>, <see cref="CompleteStreamingAsync"/>) each run in a fresh session, so they are
/// thread-safe and independent of earlier calls; memory (learn, save, load) lives on sessions only.
/// Disposing the model stops every session's running call within one token; later calls throw
/// <see cref="ObjectDisposedException"/>.
/// </summary>
public sealed class Llama : IDisposable
{
    volatile bool _disposed;
    readonly Lazy<StepScheduler>? _scheduler;

    Llama(InferenceWeights weights, BitLlamaTokenizer tokenizer, SamplingOptions defaults, ChatFormat? chat, string? source, InferenceOptions? options)
    {
        if (tokenizer.VocabSize > weights.Config.VocabSize)
            throw BitLlamaFormatException.In(source,
                $"the tokenizer has {tokenizer.VocabSize} tokens but the model's vocab_size is {weights.Config.VocabSize}; the tokenizer does not belong to this model");
        Weights = weights;
        Tokenizer = tokenizer;
        DefaultSampling = defaults;
        SourcePath = source;
        Batching = options?.Batching ?? true;
        if (Batching) _scheduler = new Lazy<StepScheduler>(() => new StepScheduler(Weights, Handoff));
        ChatFormat = chat;
    }

    /// <summary>True when the sessions of this model are decoded together (<see cref="InferenceOptions.Batching"/>).</summary>
    public bool Batching { get; }

    /// <summary>The batching scheduler, made with the first call; null when batching is off.</summary>
    internal StepScheduler? Scheduler => _scheduler?.Value;

    /// <summary>Guards what a call hands between the thread that steps it and its reader.</summary>
    internal Lock Handoff { get; } = new();

    public BitLlamaConfig Config => Weights.Config;
    /// <summary>The file or directory the model was loaded from; null when built from weights in memory.</summary>
    public string? SourcePath { get; }
    public BitLlamaTokenizer Tokenizer { get; }
    /// <summary>The packed weights the engine runs on.</summary>
    public InferenceWeights Weights { get; }

    /// <summary>
    /// The generation settings a call without options uses: the defaults the model file stores (config field
    /// <see cref="SamplingOptions.ConfigField"/>, docs/model.md §1), else <see cref="SamplingOptions"/>' own. Every door
    /// (ML.NET, the chat client, dependency injection, the CLI, the web API, the C ABI and Python) starts from these.
    /// </summary>
    public SamplingOptions DefaultSampling { get; }

    /// <summary>
    /// The chat template the model stores (config field <c>chat</c>, docs/model.md §6), or null for a model without
    /// one. <see cref="LlamaSession.Reply"/> formats every door's messages with it and stops at its end of turn;
    /// without it the doors use the plain-text format of docs/model.md §6.4.
    /// </summary>
    public ChatFormat? ChatFormat { get; }

    /// <summary>Loads a <c>.bitt</c> file or a model directory (docs/model.md §4), auto-detected.</summary>
    public static Llama LoadAuto(string path, InferenceOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        cancellationToken.ThrowIfCancellationRequested();
        using var package = ModelPackage.Open(path, options?.Limits);
        return FromPackage(package, options, cancellationToken);
    }

    /// <summary><see cref="LoadAuto"/> on the thread pool (loading a large model takes seconds); cancellation is checked per tensor.</summary>
    public static Task<Llama> LoadAutoAsync(string path, InferenceOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Task.Run(() => LoadAuto(path, options, cancellationToken), cancellationToken);
    }

    /// <summary>Builds a model from an opened package; the package may be disposed afterwards.</summary>
    public static Llama FromPackage(ModelPackage package, InferenceOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(package);
        if (package.TokenizerJson is null)
            throw BitLlamaFormatException.In(package.Path, "the model has no tokenizer (expected tokenizer.json beside it, or a 'tokenizer' in the .bitt header)");
        var tokenizer = BitLlamaTokenizer.FromJson(package.TokenizerJson, package.TokenizerSource, options?.Limits);
        var defaults = SamplingOptions.FromConfig(package.Config, package.Path);   // a bad stored setting fails before the weights load
        var chat = ChatFormat.FromConfig(package.Config, tokenizer, package.Path);
        var weights = package.IsPacked
            ? PackedBitt.Load(package, options, cancellationToken)
            : InferenceWeights.Load(package.Config, (name, shape) =>
            {
                cancellationToken.ThrowIfCancellationRequested();
                return package.Weights.ReadFloat32(name, shape);
            }, options);
        return new Llama(weights, tokenizer, defaults, chat, package.Path, options);
    }

    /// <summary>Builds a model from weights in memory (e.g. straight from the trainer), by docs/model.md §2 names.</summary>
    public static Llama FromWeights(BitLlamaConfig config, BitLlamaTokenizer tokenizer, IReadOnlyList<SafeTensorData> weights, InferenceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(weights);
        var defaults = SamplingOptions.FromConfig(config, "config");
        var chat = ChatFormat.FromConfig(config, tokenizer, "config");
        return new Llama(InferenceWeights.Load(config, weights, options), tokenizer, defaults, chat, null, options);
    }

    /// <summary>
    /// Writes this model as a packed <c>.bitt</c> (docs/format.md §7): 2-bit ternary weights, int8 embedding and LM head
    /// rows, with its config (and stored generation defaults) and tokenizer; about a sixth of the fp32 file. The engine
    /// loads it without converting anything, with logits within the tolerance docs/format.md states of this model's;
    /// memory files saved with either load into both. Atomic. (Training and the TorchSharp engine need the fp32 file.)
    /// </summary>
    public void SavePacked(string path)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentException.ThrowIfNullOrEmpty(path);
        PackedBitt.Write(path, Weights, Config, Tokenizer.ToJson());
    }

    /// <summary>A new session with its own TTT state (starting empty), sharing this model's weights.</summary>
    public LlamaSession CreateSession()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new LlamaSession(this);
    }

    /// <summary>
    /// The states kept for reuse by generations on fresh sessions of this model (see <see cref="PrefixStateCache"/>);
    /// null (the default) until <see cref="EnablePrefixCache"/>.
    /// </summary>
    public PrefixStateCache? PrefixCache { get; private set; }

    /// <summary>
    /// Keeps the state after each prompt and response of a fresh session, so that a later prompt beginning with the same
    /// tokens feeds only the rest (a client resending a conversation's history each turn). The output does not change.
    /// Replaces any earlier cache of this model; returns the new one (its counters say how often it helped).
    /// </summary>
    public PrefixStateCache EnablePrefixCache(int maxEntries = PrefixStateCache.DefaultMaxEntries, long maxBytes = PrefixStateCache.DefaultMaxBytes)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var cache = new PrefixStateCache(this, maxEntries, maxBytes);
        PrefixCache = cache;
        return cache;
    }

    /// <summary>Stops keeping states for reuse and drops those kept.</summary>
    public void DisablePrefixCache()
    {
        PrefixCache?.Clear();
        PrefixCache = null;
    }

    /// <summary>True once <see cref="Dispose"/> was called.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>The completion of <paramref name="prompt"/> in a fresh session, on the calling thread; null options = <see cref="DefaultSampling"/>.</summary>
    public string Complete(string prompt, SamplingOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var session = CreateSession();
        return session.Complete(prompt, options, cancellationToken);
    }

    /// <summary>The completion (with token counts and finish reason) in a fresh session, on the thread pool.</summary>
    public async Task<LlamaCompletion> CompleteAsync(string prompt, SamplingOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var session = CreateSession();
        return await session.GenerateAsync(prompt, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Streams the completion in a fresh session; decode steps run on the thread pool.</summary>
    public async IAsyncEnumerable<string> CompleteStreamingAsync(string prompt, SamplingOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var session = CreateSession();
        await foreach (var piece in session.CompleteStreamingAsync(prompt, options, cancellationToken).ConfigureAwait(false))
            yield return piece;
    }

    /// <summary>Streams the completion in a fresh session as updates (the last has the finish reason and token counts).</summary>
    public async IAsyncEnumerable<LlamaCompletionUpdate> GenerateStreamingAsync(string prompt, SamplingOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var session = CreateSession();
        await foreach (var update in session.GenerateStreamingAsync(prompt, options, cancellationToken).ConfigureAwait(false))
            yield return update;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;   // sessions check this before every token and prompt chunk
        if (_scheduler is { IsValueCreated: true }) _scheduler.Value.Dispose();
        PrefixCache?.Clear();
    }
}
