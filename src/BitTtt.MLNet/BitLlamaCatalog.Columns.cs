using BitTtt.Inference;
using BitTtt.MLNet;

namespace Microsoft.ML;

// Score and feature columns for ordinary learners, the evaluation, and a loader that keeps whole lines.
public static partial class BitLlamaCatalog
{
    /// <summary>
    /// Adds <paramref name="outputColumnName"/> (Single): the mean log-likelihood per token of each row's text under the
    /// BitLlama in <paramref name="modelPath"/> (a <c>.bitt</c> file or model directory, loaded at Fit), and
    /// <c>TokenCount</c> (Single): the tokens averaged. Higher = more like the model's training text.
    /// </summary>
    /// <param name="catalog">The transforms catalog, <c>mlContext.Transforms</c>.</param>
    /// <param name="modelPath">A <c>.bitt</c> file or model directory.</param>
    /// <param name="outputColumnName">The added Single column.</param>
    /// <param name="inputColumnName">The String column scored (default "Text"); null = the same as <paramref name="outputColumnName"/>.</param>
    public static BitLlamaScoreEstimator BitLlamaScore(this TransformsCatalog catalog, string modelPath,
        string outputColumnName = BitLlamaDefaults.ScoreColumnName, string? inputColumnName = BitLlamaDefaults.TextColumnName) =>
        catalog.BitLlamaScore(modelPath, new BitLlamaScoreOptions { OutputColumnName = outputColumnName, InputColumnName = inputColumnName });

    /// <summary>As <see cref="BitLlamaScore(TransformsCatalog, string, string, string?)"/>, with a fitted BitLlama (or a pipeline holding one), whose model it borrows.</summary>
    public static BitLlamaScoreEstimator BitLlamaScore(this TransformsCatalog catalog, ITransformer model,
        string outputColumnName = BitLlamaDefaults.ScoreColumnName, string? inputColumnName = BitLlamaDefaults.TextColumnName) =>
        catalog.BitLlamaScore(model, new BitLlamaScoreOptions { OutputColumnName = outputColumnName, InputColumnName = inputColumnName });

    /// <summary>The score columns as <paramref name="options"/> say, from the model in <paramref name="modelPath"/>.</summary>
    public static BitLlamaScoreEstimator BitLlamaScore(this TransformsCatalog catalog, string modelPath, BitLlamaScoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new BitLlamaScoreEstimator(catalog, new ModelSource(modelPath), options);
    }

    /// <summary>The score columns as <paramref name="options"/> say, from a fitted BitLlama (borrowed).</summary>
    public static BitLlamaScoreEstimator BitLlamaScore(this TransformsCatalog catalog, ITransformer model, BitLlamaScoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new BitLlamaScoreEstimator(catalog, new ModelSource(Find(model)), options);
    }

    /// <summary>
    /// Adds <paramref name="outputColumnName"/>: a vector of 2·D Single per row (D = the model's hidden_dim), the mean and
    /// the last of the final hidden states of the row's tokens under the BitLlama in <paramref name="modelPath"/>
    /// (loaded at Fit). Features for ordinary ML.NET learners.
    /// </summary>
    /// <param name="catalog">The transforms catalog, <c>mlContext.Transforms</c>.</param>
    /// <param name="modelPath">A <c>.bitt</c> file or model directory.</param>
    /// <param name="outputColumnName">The added vector column.</param>
    /// <param name="inputColumnName">The String column read (default "Text"); null = the same as <paramref name="outputColumnName"/>.</param>
    public static BitLlamaFeaturizeEstimator BitLlamaFeaturize(this TransformsCatalog catalog, string modelPath,
        string outputColumnName = BitLlamaDefaults.FeaturesColumnName, string? inputColumnName = BitLlamaDefaults.TextColumnName) =>
        catalog.BitLlamaFeaturize(modelPath, new BitLlamaFeaturizeOptions { OutputColumnName = outputColumnName, InputColumnName = inputColumnName });

    /// <summary>As <see cref="BitLlamaFeaturize(TransformsCatalog, string, string, string?)"/>, with a fitted BitLlama (or a pipeline holding one), whose model it borrows.</summary>
    public static BitLlamaFeaturizeEstimator BitLlamaFeaturize(this TransformsCatalog catalog, ITransformer model,
        string outputColumnName = BitLlamaDefaults.FeaturesColumnName, string? inputColumnName = BitLlamaDefaults.TextColumnName) =>
        catalog.BitLlamaFeaturize(model, new BitLlamaFeaturizeOptions { OutputColumnName = outputColumnName, InputColumnName = inputColumnName });

    /// <summary>The feature column as <paramref name="options"/> say, from the model in <paramref name="modelPath"/>.</summary>
    public static BitLlamaFeaturizeEstimator BitLlamaFeaturize(this TransformsCatalog catalog, string modelPath, BitLlamaFeaturizeOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new BitLlamaFeaturizeEstimator(catalog, new ModelSource(modelPath), options);
    }

    /// <summary>The feature column as <paramref name="options"/> say, from a fitted BitLlama (borrowed).</summary>
    public static BitLlamaFeaturizeEstimator BitLlamaFeaturize(this TransformsCatalog catalog, ITransformer model, BitLlamaFeaturizeOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new BitLlamaFeaturizeEstimator(catalog, new ModelSource(Find(model)), options);
    }

    /// <summary>
    /// Evaluates the BitLlama in <paramref name="model"/> on the text column of <paramref name="data"/>, read as the
    /// lines of one text (each row followed by a newline) and scored as <c>bit-llama eval</c> scores a file, with the
    /// same code (<see cref="ModelEvaluator"/>): nats/token, perplexity, bits/byte, the copy score, and the n-gram
    /// baselines counted on <paramref name="trainingData"/>'s text column when it is given.
    /// </summary>
    /// <param name="catalog">The model operations catalog, <c>mlContext.Model</c>.</param>
    /// <param name="model">A fitted BitLlama, a pipeline holding one, or a loaded one.</param>
    /// <param name="data">The held-out text.</param>
    /// <param name="textColumnName">The String column; null = the column the model reads prompts from.</param>
    /// <param name="trainingData">The training text, for the n-gram baselines (its column of the same name).</param>
    /// <param name="options">Tokens scored at most, the copy passage (as <c>bit-llama eval</c>'s --max-tokens, --copy-tokens).</param>
    public static BitLlamaMetrics EvaluateBitLlama(this ModelOperationsCatalog catalog, ITransformer model, IDataView data,
        string? textColumnName = null, IDataView? trainingData = null, EvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(data);
        return BitLlamaMetrics.Evaluate(Find(model), data, textColumnName, trainingData, options);
    }

    /// <summary>
    /// Loads <paramref name="path"/> as one row per line, whole: tabs, commas, quotes, leading spaces, empty lines and
    /// lines starting with <c>//</c> are kept as they are (<c>LoadFromTextFile&lt;TextRow&gt;</c> cuts a line at its first
    /// tab and skips empty and <c>//</c> lines: docs/mlnet.md, "Loading text"). The view streams the file on each
    /// cursor (nothing is held in memory); line ends (\n, \r\n) are not part of a row.
    /// </summary>
    /// <param name="catalog">The data catalog, <c>mlContext.Data</c>.</param>
    /// <param name="path">A UTF-8 text file.</param>
    /// <param name="columnName">The String column (default "Text").</param>
    public static IDataView LoadTextLines(this DataOperationsCatalog catalog, string path, string columnName = BitLlamaDefaults.TextColumnName)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        OptionChecks.Name(columnName, nameof(columnName));
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: text file not found", path);
        var schema = Microsoft.ML.Data.SchemaDefinition.Create(typeof(TextRow));
        schema[0].ColumnName = columnName;
        return catalog.LoadFromEnumerable(new TextLines(path), schema);
    }

    /// <summary>Opens the file again for every enumeration, so each cursor streams it from the start.</summary>
    sealed class TextLines(string path) : IEnumerable<TextRow>
    {
        public IEnumerator<TextRow> GetEnumerator()
        {
            foreach (string line in File.ReadLines(path)) yield return new TextRow { Text = line };
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
