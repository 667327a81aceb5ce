using Microsoft.ML;

namespace BitTtt.MLNet;

/// <summary>Where a row estimator's model comes from: a file loaded at each Fit (owned), or a fitted BitLlama (borrowed).</summary>
internal sealed class ModelSource
{
    readonly string? _path;
    readonly BitLlamaTransformer? _model;

    public ModelSource(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path) && !Directory.Exists(path))
            throw new FileNotFoundException($"{path}: BitLlama model not found (expected a .bitt file or a model directory)", path);
        _path = path;
    }

    public ModelSource(BitLlamaTransformer model)
    {
        model.ThrowIfDisposed();
        _model = model;
    }

    public int? HiddenDim => _model?.Config.HiddenDim;

    public (BitLlamaTransformer Model, bool Owned) Get(TransformsCatalog catalog) =>
        _model is not null ? (_model, false) : (BittFile.Load(catalog, _path!), true);
}

/// <summary>
/// Scores each row's text with a BitLlama. <b>Trains on:</b> nothing (the model is given). <b>Input:</b> a String column
/// (default <c>Text</c>). <b>Output:</b> Single <c>Score</c>, the mean log-likelihood per token (nats), and Single
/// <c>TokenCount</c>, the tokens averaged. Predict-only: the managed engine, no libtorch.
/// </summary>
public sealed class BitLlamaScoreEstimator : IEstimator<BitLlamaScoreTransformer>
{
    readonly TransformsCatalog _catalog;
    readonly ModelSource _source;
    readonly BitLlamaScoreOptions _options;

    internal BitLlamaScoreEstimator(TransformsCatalog catalog, ModelSource source, BitLlamaScoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _catalog = catalog;
        _source = source;
        _options = (BitLlamaScoreOptions)options.Copy();
    }

    public BitLlamaScoreTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        SchemaChecks.Text(input.Schema, _options.Input);
        var (model, owned) = _source.Get(_catalog);
        return new BitLlamaScoreTransformer(_catalog, model, owned, (BitLlamaScoreOptions)_options.Copy());
    }

    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        SchemaChecks.Text(inputSchema, _options.Input);
        return BitLlamaScoreTransformer.CreateMapping(_catalog, _options, _ => throw new InvalidOperationException("Fit this estimator first."))
            .GetOutputSchema(inputSchema);
    }
}

/// <summary>
/// Turns each row's text into a fixed-length vector from a BitLlama's final hidden states. <b>Trains on:</b> nothing
/// (the model is given). <b>Input:</b> a String column (default <c>Text</c>). <b>Output:</b> <c>Features</c>, a vector of
/// 2·D Single (the mean and the last of the final hidden states; D = the model's hidden_dim). Predict-only: the managed
/// engine, no libtorch.
/// </summary>
public sealed class BitLlamaFeaturizeEstimator : IEstimator<BitLlamaFeaturizeTransformer>
{
    readonly TransformsCatalog _catalog;
    readonly ModelSource _source;
    readonly BitLlamaFeaturizeOptions _options;

    internal BitLlamaFeaturizeEstimator(TransformsCatalog catalog, ModelSource source, BitLlamaFeaturizeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _catalog = catalog;
        _source = source;
        _options = (BitLlamaFeaturizeOptions)options.Copy();
    }

    public BitLlamaFeaturizeTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        SchemaChecks.Text(input.Schema, _options.Input);
        var (model, owned) = _source.Get(_catalog);
        return new BitLlamaFeaturizeTransformer(_catalog, model, owned, (BitLlamaFeaturizeOptions)_options.Copy());
    }

    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        SchemaChecks.Text(inputSchema, _options.Input);
        // A SchemaShape says "fixed-size vector" without the size; the model's is used when it is already loaded.
        int length = 2 * (_source.HiddenDim ?? 1);
        return BitLlamaFeaturizeTransformer.CreateMapping(_catalog, _options, length, _ => throw new InvalidOperationException("Fit this estimator first."))
            .GetOutputSchema(inputSchema);
    }
}
