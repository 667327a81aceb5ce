using BitTtt.Inference;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace BitTtt.MLNet;

/// <summary>
/// The shape of the BitLlama transformers that add per-row numbers for ordinary learners
/// (<see cref="BitLlamaScoreTransformer"/>, <see cref="BitLlamaFeaturizeTransformer"/>): a CustomMapping wrapper whose
/// row-by-row mapping serves PredictionEngine, and whose <c>Transform</c> computes batches of rows in parallel
/// (<see cref="BatchedMappingView"/>); both give the same values. Runs on the managed engine; no libtorch.
/// Ownership: a transformer fitted from a model path (or loaded from a zip) owns its model and
/// <see cref="Dispose"/> ends it; one made from a fitted BitLlama borrows that model, which must stay alive.
/// </summary>
public abstract class BitLlamaRowTransformer : CustomMappingWrapper, IDisposable
{
    readonly bool _ownsModel;

    private protected BitLlamaRowTransformer(BitLlamaTransformer source, bool ownsModel, BitLlamaTextColumnOptions options)
    {
        Source = source;
        _ownsModel = ownsModel;
        Options = options;
        Maps = new RowMaps(source, options);
    }

    /// <summary>The managed model the values come from.</summary>
    public Llama Model => Source.Model;
    /// <summary>The String column read.</summary>
    public string InputColumnName => Options.Input;
    /// <summary>The column added.</summary>
    public string OutputColumnName => Options.OutputColumnName;

    internal BitLlamaTransformer Source { get; }
    internal BitLlamaTextColumnOptions Options { get; }
    internal RowMaps Maps { get; }

    private protected override string TextColumn => Options.Input;

    /// <summary>The added columns in the order the inner mapping adds them.</summary>
    private protected abstract BatchedMappingView.Added[] AddedColumns { get; }

    private protected abstract float[] Map(string? text);

    private protected override IDataView TransformCore(IDataView input) =>
        new BatchedMappingView(input, Inner.GetOutputSchema(input.Schema), Options.Input, AddedColumns, Map, Options.BatchSize, Options.EffectiveThreads);

    private protected override void SaveModel(ModelSaveContext ctx) =>
        ModelZip.Save(ctx, Inner, [(ModelZip.ColumnOptionsEntry, ModelZip.ColumnOptionsPayload(Options)), (ModelZip.ModelEntry, ModelZip.ModelPayload(Source))]);

    /// <summary>Ends the model if this transformer owns it (fitted from a path or loaded from a zip); a borrowed model is left alone.</summary>
    public void Dispose()
    {
        if (_ownsModel) Source.Dispose();
    }

    private protected static SchemaDefinition Input(string column)
    {
        var input = SchemaDefinition.Create(typeof(BitLlamaTextInput));
        input[0].ColumnName = column;
        return input;
    }
}

/// <summary>
/// Adds, for each row of a String column, the mean log-likelihood per token of its text under a BitLlama
/// (Single, default column <c>Score</c>: mean ln p(token | the row separator and the row's tokens before it), in nats,
/// ≤ 0, higher = more like the training text) and how many tokens it averages (Single, default <c>TokenCount</c>).
/// A row with no tokens gets NaN and 0. Useful as an anomaly or out-of-domain score, or as features.
/// See docs/mlnet.md, "Score and feature columns".
/// </summary>
public sealed class BitLlamaScoreTransformer : BitLlamaRowTransformer
{
    internal const string ContractName = "BitTtt.BitLlamaScore (load this model with mlContext.Model.LoadWithBitLlama)";

    internal BitLlamaScoreTransformer(TransformsCatalog catalog, BitLlamaTransformer source, bool ownsModel, BitLlamaScoreOptions options)
        : base(source, ownsModel, options)
    {
        Inner = CreateMapping(catalog, options, Maps.Score).Fit(TokenizeForBitLlamaTransformer.EmptyInput(options.Input));
    }

    /// <summary>The Single column holding the number of tokens each score averages.</summary>
    public string TokenCountColumnName => ((BitLlamaScoreOptions)Options).TokenCountColumnName;

    private protected override BatchedMappingView.Added[] AddedColumns =>
        [new(OutputColumnName, 0, 1, IsVector: false), new(TokenCountColumnName, 1, 1, IsVector: false)];

    private protected override float[] Map(string? text) => Maps.Score(text);

    internal static CustomMappingEstimator<BitLlamaTextInput, BitLlamaScoreOutput> CreateMapping(
        TransformsCatalog catalog, BitLlamaScoreOptions options, Func<string?, float[]> score)
    {
        var output = SchemaDefinition.Create(typeof(BitLlamaScoreOutput));
        output.Single(c => c.MemberName == nameof(BitLlamaScoreOutput.Score)).ColumnName = options.OutputColumnName;
        output.Single(c => c.MemberName == nameof(BitLlamaScoreOutput.TokenCount)).ColumnName = options.TokenCountColumnName;
        return catalog.CustomMapping<BitLlamaTextInput, BitLlamaScoreOutput>((i, o) =>
        {
            float[] r = score(i.Text);
            o.Score = r[0];
            o.TokenCount = r[1];
        }, ContractName, Input(options.Input), output);
    }
}

/// <summary>
/// Adds, for each row of a String column, a fixed-length vector of Single (default column <c>Features</c>) pooled
/// from the BitLlama's final hidden states (rmsnorm(h, norm_f), the LM head's input) of the row's tokens:
/// [0, D) their mean, [D, 2D) the last token's; length 2·D (<see cref="FeatureLength"/>, D = the model's hidden_dim).
/// For ordinary ML.NET learners (SdcaMaximumEntropy, LbfgsLogisticRegression, FastTree ...); normalize it first as for
/// any dense features. See docs/mlnet.md, "Score and feature columns".
/// </summary>
public sealed class BitLlamaFeaturizeTransformer : BitLlamaRowTransformer
{
    internal const string ContractName = "BitTtt.BitLlamaFeaturize (load this model with mlContext.Model.LoadWithBitLlama)";

    internal BitLlamaFeaturizeTransformer(TransformsCatalog catalog, BitLlamaTransformer source, bool ownsModel, BitLlamaFeaturizeOptions options)
        : base(source, ownsModel, options)
    {
        Inner = CreateMapping(catalog, options, Maps.FeatureLength, Maps.Features).Fit(TokenizeForBitLlamaTransformer.EmptyInput(options.Input));
    }

    /// <summary>Length of the feature vector: 2 × the model's hidden_dim.</summary>
    public int FeatureLength => Maps.FeatureLength;

    private protected override BatchedMappingView.Added[] AddedColumns => [new(OutputColumnName, 0, FeatureLength, IsVector: true)];

    private protected override float[] Map(string? text) => Maps.Features(text);

    internal static CustomMappingEstimator<BitLlamaTextInput, BitLlamaFeaturesOutput> CreateMapping(
        TransformsCatalog catalog, BitLlamaFeaturizeOptions options, int length, Func<string?, float[]> features)
    {
        var output = SchemaDefinition.Create(typeof(BitLlamaFeaturesOutput));
        output[0].ColumnName = options.OutputColumnName;
        output[0].ColumnType = new VectorDataViewType(NumberDataViewType.Single, length);
        return catalog.CustomMapping<BitLlamaTextInput, BitLlamaFeaturesOutput>((i, o) => o.Features = features(i.Text),
            ContractName, Input(options.Input), output);
    }
}
