using System.Runtime.CompilerServices;
using BitTtt.Inference;

namespace BitTtt.MLNet;

/// <summary>
/// Text generation from a fitted or loaded BitLlama, beyond the one-string <c>Completion</c> column:
/// sampling options per call, streaming, and sessions. <see cref="Complete"/> and
/// <see cref="CompleteStreamingAsync"/> each run in a fresh session (thread-safe, results independent of
/// earlier calls); <see cref="CreateSession"/> keeps its TTT state across calls (memory, learn, save/load),
/// one session per conversation and thread. The generator borrows the model of the transformer it came from:
/// once that transformer (or its pipeline) is disposed, calls throw <see cref="ObjectDisposedException"/>.
/// A chat client over the same weights is the model's: <c>generator.Model.AsChatClient()</c> (BitTtt.Extensions.AI),
/// with the same generation defaults.
/// </summary>
public sealed class BitLlamaTextGenerator
{
    readonly BitLlamaTransformer _owner;

    internal BitLlamaTextGenerator(BitLlamaTransformer owner)
    {
        _owner = owner;
        DefaultOptions = owner.Model.DefaultSampling;
    }

    /// <summary>The managed model (weights shared and immutable), owned by the transformer this generator came from.</summary>
    public Llama Model
    {
        get
        {
            _owner.ThrowIfDisposed();
            return _owner.Model;
        }
    }

    /// <summary>The model's generation defaults (<see cref="Llama.DefaultSampling"/>: stored in its file, seed included), used when a call gives no options.</summary>
    public SamplingOptions DefaultOptions { get; }

    public string Complete(string prompt, SamplingOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        using var session = Model.CreateSession();
        return session.Complete(prompt, options ?? DefaultOptions, cancellationToken);
    }

    /// <summary>The completion with token counts and finish reason, computed on the thread pool.</summary>
    public Task<LlamaCompletion> CompleteAsync(string prompt, SamplingOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return Model.CompleteAsync(prompt, options ?? DefaultOptions, cancellationToken);
    }

    /// <summary>Streams the completion; each piece is whole UTF-8 characters.</summary>
    public async IAsyncEnumerable<string> CompleteStreamingAsync(string prompt, SamplingOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        using var session = Model.CreateSession();
        await foreach (string piece in session.CompleteStreamingAsync(prompt, options ?? DefaultOptions, cancellationToken).WithCancellation(cancellationToken))
            yield return piece;
    }

    /// <summary>A session with its own TTT state, kept across calls until reset. Not for concurrent use; dispose it.</summary>
    public LlamaSession CreateSession() => Model.CreateSession();
}
