using BitTtt.Formats;
using BitTtt.Inference.Engine;
using BitTtt.Sampling;
using BitTtt.Tokenization;

namespace BitTtt.Inference;

/// <summary>
/// A loaded BitLlama model for text generation on the CPU, with no native dependency. The weights are
/// immutable and shared: create one <see cref="LlamaSession"/> per conversation or concurrent user
/// (each owns its TTT state). The convenience methods on this class use one default session and, like
/// a session, must not be called from two threads at once.
/// </summary>
public sealed class Llama : IDisposable
{
    readonly Lazy<LlamaSession> _default;
    bool _disposed;

    Llama(InferenceWeights weights, BitLlamaTokenizer tokenizer, string? source)
    {
        if (tokenizer.VocabSize > weights.Config.VocabSize)
            throw BitLlamaFormatException.In(source,
                $"the tokenizer has {tokenizer.VocabSize} tokens but the model's vocab_size is {weights.Config.VocabSize}; the tokenizer does not belong to this model");
        Weights = weights;
        Tokenizer = tokenizer;
        _default = new Lazy<LlamaSession>(CreateSession);
    }

    public BitLlamaConfig Config => Weights.Config;
    public BitLlamaTokenizer Tokenizer { get; }
    /// <summary>The packed weights the engine runs on.</summary>
    public InferenceWeights Weights { get; }

    /// <summary>Loads a <c>.bitt</c> file or a model directory (SPEC §4), auto-detected.</summary>
    public static Llama LoadAuto(string path, InferenceOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var package = ModelPackage.Open(path, options?.Limits);
        return FromPackage(package, options);
    }

    /// <summary>Builds a model from an opened package; the package may be disposed afterwards.</summary>
    public static Llama FromPackage(ModelPackage package, InferenceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(package);
        if (package.TokenizerJson is null)
            throw BitLlamaFormatException.In(package.Path, "the model has no tokenizer (expected tokenizer.json beside it, or a 'tokenizer' in the .bitt header)");
        var tokenizer = BitLlamaTokenizer.FromJson(package.TokenizerJson, package.Path, options?.Limits);
        var weights = InferenceWeights.Load(package.Config, (name, shape) => package.Weights.ReadFloat32(name, shape), options);
        return new Llama(weights, tokenizer, package.Path);
    }

    /// <summary>Builds a model from weights in memory (e.g. straight from the trainer), by SPEC §2 names.</summary>
    public static Llama FromWeights(BitLlamaConfig config, BitLlamaTokenizer tokenizer, IReadOnlyList<SafeTensorData> weights, InferenceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(weights);
        var byName = new Dictionary<string, SafeTensorData>();
        foreach (var t in weights) byName[t.Name] = t;
        var loaded = InferenceWeights.Load(config, (name, shape) =>
        {
            if (!byName.TryGetValue(name, out var t))
                throw new ArgumentException($"tensor '{name}' is missing (expected shape [{string.Join(", ", shape)}])", nameof(weights));
            if (!t.Shape.SequenceEqual(shape))
                throw new ArgumentException($"tensor '{name}': expected shape [{string.Join(", ", shape)}], found [{string.Join(", ", t.Shape)}]", nameof(weights));
            return t.Data.ToArray();
        }, options);
        return new Llama(loaded, tokenizer, null);
    }

    /// <summary>A new session with its own TTT state (starting empty), sharing this model's weights.</summary>
    public LlamaSession CreateSession()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new LlamaSession(this);
    }

    LlamaSession Default
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _default.Value;
        }
    }

    /// <summary>Streams the completion of <paramref name="prompt"/>; <paramref name="onToken"/> returns false to stop.</summary>
    public void StreamCompletion(string prompt, int maxTokens, float temperature, Func<string, bool> onToken) =>
        Default.StreamCompletion(prompt, maxTokens, temperature, onToken);

    public string Complete(string prompt, SamplingOptions? options = null) => Default.Complete(prompt, options);

    public IAsyncEnumerable<string> CompleteStreamingAsync(string prompt, SamplingOptions? options = null, CancellationToken cancellationToken = default) =>
        Default.CompleteStreamingAsync(prompt, options, cancellationToken);

    public void ResetState() => Default.ResetState();
    public void Learn(string text) => Default.Learn(text);
    public void SaveMemory(string path) => Default.SaveMemory(path);
    public void LoadMemory(string path) => Default.LoadMemory(path);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_default.IsValueCreated) _default.Value.Dispose();
    }
}
