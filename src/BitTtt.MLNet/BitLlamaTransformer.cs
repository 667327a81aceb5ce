using BitTtt.Formats;
using BitTtt.Inference;
using BitTtt.Tokenization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace BitTtt.MLNet;

/// <summary>
/// A trained BitLlama. Adds a String column (default <c>Completion</c>) generated from the prompt in the text
/// column, lazily (only when a cursor reads it) and with the managed engine: loading and predicting need no
/// libtorch. Each row gets a fresh TTT session sampled with the model's generation defaults
/// (<see cref="Llama.DefaultSampling"/>, stored in the file; a fitted model stores its training seed), so a row's
/// completion does not depend on the other rows, on their order, or on how many cursors ML.NET reads in parallel.
/// A thin wrapper over ML.NET's CustomMapping transformer; works in PredictionEngine and in Transform.
/// Ownership: the transformer owns its <see cref="Model"/>; see <see cref="Dispose"/>.
/// </summary>
public sealed class BitLlamaTransformer : CustomMappingWrapper, IDisposable
{
    internal const string ContractName = "BitTtt.BitLlama (load this model with mlContext.Model.LoadWithBitLlama)";

    readonly Llama _llama;
    int _generated;

    internal BitLlamaTransformer(TransformsCatalog catalog, BitLlamaConfig config, BitLlamaTokenizer tokenizer,
        IReadOnlyList<SafeTensorData> weights, ColumnSettings settings)
        : this(catalog, config, tokenizer, Llama.FromWeights(config, tokenizer, weights), weights, settings)
    {
    }

    /// <summary>Over a model loaded from a packed .bitt: no fp32 weights, so it saves packed.</summary>
    internal BitLlamaTransformer(TransformsCatalog catalog, BitLlamaConfig config, BitLlamaTokenizer tokenizer, Llama llama, ColumnSettings settings)
        : this(catalog, config, tokenizer, llama, null, settings)
    {
    }

    BitLlamaTransformer(TransformsCatalog catalog, BitLlamaConfig config, BitLlamaTokenizer tokenizer, Llama llama,
        IReadOnlyList<SafeTensorData>? weights, ColumnSettings settings)
    {
        Settings = settings;
        Config = config;
        Tokenizer = tokenizer;
        Weights = weights;
        _llama = llama;
        Inner = CreateMapping(catalog, settings.PromptColumnName, settings.CompletionColumnName, Generate)
            .Fit(TokenizeForBitLlamaTransformer.EmptyInput(settings.PromptColumnName));
    }

    public BitLlamaConfig Config { get; }
    public BitLlamaTokenizer Tokenizer { get; }
    /// <summary>The String column holding the prompts.</summary>
    public string PromptColumnName => Settings.PromptColumnName;
    /// <summary>The String column this transformer adds.</summary>
    public string CompletionColumnName => Settings.CompletionColumnName;
    /// <summary>
    /// The managed inference model (weights shared, immutable; sessions hold the TTT state). This transformer
    /// owns it: generators, chat clients, sessions and prediction engines borrow it, and stop with an
    /// <see cref="ObjectDisposedException"/> once the transformer (or a pipeline holding it) is disposed.
    /// </summary>
    public Llama Model => _llama;

    /// <summary>True once this transformer (or a pipeline holding it) was disposed; its model is then unusable.</summary>
    public bool IsDisposed => _llama.IsDisposed;

    internal ColumnSettings Settings { get; }
    /// <summary>Completions generated so far (tests check that Transform is lazy).</summary>
    internal int CompletionsGenerated => Volatile.Read(ref _generated);
    /// <summary>The fp32 weights (a fitted model, or one loaded from an fp32 .bitt); null when loaded from a packed .bitt.</summary>
    internal IReadOnlyList<SafeTensorData>? Weights { get; }

    /// <summary>
    /// The completion the <c>Completion</c> column holds for this prompt. An empty prompt (a blank line of a
    /// file) gives an empty completion: there is no context to continue, and one such row must not fail a
    /// whole Transform. A model with a chat template (trained on conversations, docs/model.md §6) answers instead: the
    /// prompt is a user message (or, for a model fitted on a messages column, the row's conversation as JSON) and the
    /// completion is the model's reply through <see cref="LlamaSession.Reply"/>, up to its end of turn.
    /// </summary>
    public string Generate(string? prompt)
    {
        ThrowIfDisposed();
        if (string.IsNullOrEmpty(prompt)) return "";
        Interlocked.Increment(ref _generated);
        using var session = _llama.CreateSession();
        if (Settings.Messages)
            return session.Reply(ChatData.Parse(prompt, $"column '{PromptColumnName}'", requireAssistant: false), _llama.DefaultSampling).Text;
        if (_llama.ChatFormat is not null)
            return session.Reply([new ChatTurn(ChatTurn.User, prompt)], _llama.DefaultSampling).Text;
        return session.Complete(prompt, _llama.DefaultSampling);
    }

    private protected override string TextColumn => PromptColumnName;

    private protected override void SaveModel(ModelSaveContext ctx) =>
        ModelZip.Save(ctx, Inner, ModelZip.ModelEntry, ModelZip.ModelPayload(this));

    /// <summary>
    /// Writes the model as a single <c>.bitt</c> file (docs/model.md §4.3), atomically: fp32, or packed (docs/format.md §7)
    /// when <paramref name="packed"/> or when the model was loaded from a packed file (it has no fp32 weights then).
    /// </summary>
    internal void SaveBitt(string path, bool packed = false)
    {
        ThrowIfDisposed();
        // The generation defaults the Completion column used (the model's), then the columns: a reloaded model answers alike.
        var config = Settings.WriteTo(_llama.DefaultSampling.StoreIn(Config));
        if (packed || Weights is null) Inference.Engine.PackedBitt.Write(path, _llama.Weights, config, Tokenizer.ToJson());
        else ModelPackage.WriteBitt(path, config, Tokenizer.ToJson(), Weights);
    }

    /// <summary>
    /// Ends the model: running generations stop within one token, and every later call through this transformer,
    /// its prediction engines, generators, chat clients or sessions throws <see cref="ObjectDisposedException"/>.
    /// Disposing a fitted pipeline (<c>TransformerChain</c>) disposes this too. Keep it alive while those are in use.
    /// </summary>
    public void Dispose() => _llama.Dispose();

    internal void ThrowIfDisposed()
    {
        if (_llama.IsDisposed)
            throw new ObjectDisposedException(nameof(BitLlamaTransformer),
                "This BitLlama model was disposed (its BitLlamaTransformer, or the pipeline holding it). Prediction engines, " +
                "text generators, chat clients and sessions borrow the transformer's model: keep it alive while they are in use.");
    }

    internal static CustomMappingEstimator<BitLlamaTextInput, BitLlamaCompletionOutput> CreateMapping(
        TransformsCatalog catalog, string promptColumnName, string completionColumnName, Func<string?, string> generate)
    {
        var input = SchemaDefinition.Create(typeof(BitLlamaTextInput));
        input[0].ColumnName = promptColumnName;
        var output = SchemaDefinition.Create(typeof(BitLlamaCompletionOutput));
        output[0].ColumnName = completionColumnName;
        return catalog.CustomMapping<BitLlamaTextInput, BitLlamaCompletionOutput>(
            (i, o) => o.Completion = generate(i.Text), ContractName, input, output);
    }

    /// <summary>The shape the estimator promises before the prompt column is known (it is read at Fit).</summary>
    internal static SchemaShape AddedShape(TransformsCatalog catalog, SchemaShape inputSchema, string completionColumnName)
    {
        var output = SchemaDefinition.Create(typeof(BitLlamaCompletionOutput));
        output[0].ColumnName = completionColumnName;
        return catalog.CustomMapping<BitLlamaNoInput, BitLlamaCompletionOutput>((_, _) => { }, ContractName, null, output)
            .GetOutputSchema(inputSchema);
    }
}

/// <summary>Placeholder input of the schema-only mapping. Not for direct use.</summary>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
public sealed class BitLlamaNoInput;
