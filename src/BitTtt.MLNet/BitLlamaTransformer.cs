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
/// libtorch. Each row gets a fresh TTT session with the stored seed, so a row's completion does not depend on
/// the other rows, on their order, or on how many cursors ML.NET reads in parallel.
/// A thin wrapper over ML.NET's CustomMapping transformer; works in PredictionEngine and in Transform.
/// </summary>
public sealed class BitLlamaTransformer : CustomMappingWrapper, IDisposable
{
    internal const string ContractName = "BitTtt.BitLlama (load this model with mlContext.Model.LoadWithBitLlama)";

    readonly Llama _llama;
    int _generated;

    internal BitLlamaTransformer(TransformsCatalog catalog, BitLlamaConfig config, BitLlamaTokenizer tokenizer,
        IReadOnlyList<SafeTensorData> weights, GenerationSettings settings, BitLlamaTrainingSummary? training)
    {
        Settings = settings;
        Config = config;
        Tokenizer = tokenizer;
        Weights = weights;
        Training = training;
        _llama = Llama.FromWeights(config, tokenizer, weights);
        Inner = CreateMapping(catalog, settings.PromptColumnName, settings.CompletionColumnName, Generate)
            .Fit(TokenizeForBitLlamaTransformer.EmptyInput(settings.PromptColumnName));
    }

    public BitLlamaConfig Config { get; }
    public BitLlamaTokenizer Tokenizer { get; }
    /// <summary>The String column holding the prompts.</summary>
    public string PromptColumnName => Settings.PromptColumnName;
    /// <summary>The String column this transformer adds.</summary>
    public string CompletionColumnName => Settings.CompletionColumnName;
    /// <summary>What Fit measured (losses, steps, token counts); null for a model loaded from a file.</summary>
    public BitLlamaTrainingSummary? Training { get; }
    /// <summary>The managed inference model (weights shared, immutable; sessions hold the TTT state).</summary>
    public Llama Model => _llama;

    internal GenerationSettings Settings { get; }
    /// <summary>Completions generated so far (tests check that Transform is lazy).</summary>
    internal int CompletionsGenerated => Volatile.Read(ref _generated);
    internal IReadOnlyList<SafeTensorData> Weights { get; }

    /// <summary>
    /// The completion the <c>Completion</c> column holds for this prompt. An empty prompt (a blank line of a
    /// file) gives an empty completion: there is no context to continue, and one such row must not fail a
    /// whole Transform.
    /// </summary>
    public string Generate(string? prompt)
    {
        if (string.IsNullOrEmpty(prompt)) return "";
        Interlocked.Increment(ref _generated);
        using var session = _llama.CreateSession();
        return session.Complete(prompt, Settings.ToSampling());
    }

    private protected override string TextColumn => PromptColumnName;

    private protected override void SaveModel(ModelSaveContext ctx) =>
        ModelZip.Save(ctx, Inner, ModelZip.ModelEntry, ModelZip.ModelPayload(this));

    /// <summary>Writes the model as a single <c>.bitt</c> file (docs/model.md §4.3), atomically.</summary>
    internal void SaveBitt(string path) =>
        ModelPackage.WriteBitt(path, Settings.WriteTo(Config), Tokenizer.ToJson(), Weights);

    public void Dispose() => _llama.Dispose();

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

/// <summary>What a BitLlama Fit measured.</summary>
public sealed record BitLlamaTrainingSummary
{
    /// <summary>Optimizer steps reached (counting resumed ones).</summary>
    public required int Steps { get; init; }
    /// <summary>False when training stopped early (StopAfterSteps).</summary>
    public required bool Completed { get; init; }
    public required double TrainLoss { get; init; }
    /// <summary>Mean next-token cross-entropy (nats) on the validation tokens; null without validation data.</summary>
    public double? ValidationLoss { get; init; }
    /// <summary>
    /// Cross-entropy (nats) of the validation tokens under the training corpus' unigram distribution
    /// (add-one smoothed): what a model that ignores context scores. A useful model is below it.
    /// </summary>
    public double? UnigramValidationLoss { get; init; }
    /// <summary>
    /// The unigram (add-one), interpolated Kneser-Ney bigram and trigram cross-entropies (nats/token) of the
    /// validation tokens, counted on the training tokens; null without validation data. A model that does not
    /// beat the trigram has learned less than counting would.
    /// </summary>
    public BitTtt.Evaluation.BaselineLosses? Baselines { get; init; }
    public required long TrainTokens { get; init; }
    public long ValidationTokens { get; init; }
    public string? CheckpointPath { get; init; }
    public required TimeSpan Elapsed { get; init; }
}
