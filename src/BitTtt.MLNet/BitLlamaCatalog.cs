using BitTtt.MLNet;
using BitTtt.Tokenization;
using Microsoft.ML.Data;

namespace Microsoft.ML;

/// <summary>BitLlama's catalog extensions: <c>ml.Transforms.TokenizeForBitLlama</c>, <c>ml.Transforms.BitLlama</c>,
/// <c>ml.Model.SaveAsBitt</c> / <c>LoadBitt</c> / <c>LoadWithBitLlama</c> / <c>CreateTextGenerator</c>.</summary>
public static class BitLlamaCatalog
{
    /// <summary>Trains a byte-level BPE tokenizer on <paramref name="inputColumnName"/> at Fit and adds the token ids.</summary>
    /// <param name="catalog">The transforms catalog, <c>mlContext.Transforms</c>.</param>
    /// <param name="outputColumnName">The added column: vector of UInt32 token ids.</param>
    /// <param name="inputColumnName">The String column to tokenize; null = "Text".</param>
    /// <param name="vocabSize">Vocabulary size of the trained tokenizer.</param>
    public static TokenizeForBitLlamaEstimator TokenizeForBitLlama(this TransformsCatalog catalog,
        string outputColumnName = BitLlamaDefaults.TokensColumnName, string? inputColumnName = null, int vocabSize = BitLlamaDefaults.VocabSize) =>
        catalog.TokenizeForBitLlama(new TokenizeForBitLlamaOptions
        {
            OutputColumnName = outputColumnName,
            InputColumnName = inputColumnName ?? BitLlamaDefaults.TextColumnName,
            VocabSize = vocabSize,
        });

    /// <summary>Trains a byte-level BPE tokenizer at Fit, as <paramref name="options"/> say, and adds the token ids.</summary>
    public static TokenizeForBitLlamaEstimator TokenizeForBitLlama(this TransformsCatalog catalog, TokenizeForBitLlamaOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new TokenizeForBitLlamaEstimator(catalog, options, tokenizer: null);
    }

    /// <summary>Tokenizes with a given Microsoft.ML.Tokenizers tokenizer (e.g. GPT-2's); Fit trains nothing.</summary>
    public static TokenizeForBitLlamaEstimator TokenizeForBitLlama(this TransformsCatalog catalog, Microsoft.ML.Tokenizers.Tokenizer tokenizer,
        string outputColumnName = BitLlamaDefaults.TokensColumnName, string? inputColumnName = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(tokenizer);
        return new TokenizeForBitLlamaEstimator(catalog, Options(outputColumnName, inputColumnName), BitLlamaTokenizer.FromTokenizer(tokenizer));
    }

    /// <summary>Tokenizes with the tokenizer in a Hugging Face tokenizer.json file; Fit trains nothing.</summary>
    public static TokenizeForBitLlamaEstimator TokenizeForBitLlama(this TransformsCatalog catalog,
        string outputColumnName, string? inputColumnName, string tokenizerPath)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(tokenizerPath);
        return new TokenizeForBitLlamaEstimator(catalog, Options(outputColumnName, inputColumnName), BitLlamaTokenizer.Load(tokenizerPath));
    }

    static TokenizeForBitLlamaOptions Options(string output, string? input) =>
        new() { OutputColumnName = output, InputColumnName = input ?? BitLlamaDefaults.TextColumnName };

    /// <summary>Trains a BitLlama on the token column; the fitted transformer adds a <c>Completion</c> column.</summary>
    public static BitLlamaEstimator BitLlama(this TransformsCatalog catalog, BitLlamaOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new BitLlamaEstimator(catalog, options);
    }

    /// <summary>Trains a BitLlama with docs/model.md §5 defaults for everything not named here.</summary>
    public static BitLlamaEstimator BitLlama(this TransformsCatalog catalog, string tokensColumnName = BitLlamaDefaults.TokensColumnName,
        int hiddenDim = BitLlamaDefaults.HiddenDim, int numLayers = BitLlamaDefaults.NumLayers, int maxSteps = BitLlamaDefaults.MaxSteps) =>
        catalog.BitLlama(new BitLlamaOptions { TokensColumnName = tokensColumnName, HiddenDim = hiddenDim, NumLayers = numLayers, MaxSteps = maxSteps });

    /// <summary>
    /// Writes the BitLlama in <paramref name="model"/> (a fitted pipeline or the transformer itself) as one
    /// <c>.bitt</c> file (docs/model.md §4.3: config with the generation defaults, tokenizer, weights), atomically.
    /// Other transforms of the pipeline are not stored: use <c>Model.Save</c> + <c>LoadWithBitLlama</c> for those.
    /// </summary>
    public static void SaveAsBitt(this ModelOperationsCatalog catalog, ITransformer model, string path)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Find(model).SaveBitt(path);
    }

    /// <summary>
    /// Loads a <c>.bitt</c> file or model directory as a transformer that reads the same text column the model
    /// was trained from and adds <c>Completion</c>. Managed inference only: no libtorch.
    /// </summary>
    public static BitLlamaTransformer LoadBitt(this ModelOperationsCatalog catalog, string path)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return BittFile.Load(MlHost.Transforms(MlHost.Environment(catalog)), path);
    }

    /// <summary>Loads a zip written by <c>Model.Save</c> of a pipeline with BitLlama components.</summary>
    public static ITransformer LoadWithBitLlama(this ModelOperationsCatalog catalog, string path, out DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return ModelZip.Load(catalog, path, out inputSchema);
    }

    /// <summary>Loads a zip written by <c>Model.Save</c> of a pipeline with BitLlama components.</summary>
    public static ITransformer LoadWithBitLlama(this ModelOperationsCatalog catalog, string path) =>
        catalog.LoadWithBitLlama(path, out _);

    /// <summary>The generation wrapper (options per call, streaming, sessions with their own TTT state).</summary>
    public static BitLlamaTextGenerator CreateTextGenerator(this ModelOperationsCatalog catalog, ITransformer model)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        var bitLlama = Find(model);
        return new BitLlamaTextGenerator(bitLlama.Model, bitLlama.Settings.ToSampling());
    }

    /// <summary>
    /// An <see cref="Microsoft.Extensions.AI.IChatClient"/> over the BitLlama in <paramref name="model"/>, sampling with the
    /// model's stored generation settings unless <paramref name="options"/> gives defaults. The client shares the
    /// transformer's weights and does not dispose them.
    /// </summary>
    public static BitTtt.Extensions.AI.BitLlamaChatClient CreateChatClient(this ModelOperationsCatalog catalog, ITransformer model,
        BitTtt.Extensions.AI.BitLlamaChatClientOptions? options = null) =>
        catalog.CreateTextGenerator(model).AsChatClient(options);

    /// <summary>A thread-safe pool of prediction engines for servers (see <see cref="BitLlamaPredictionEnginePool{TIn, TOut}"/>).</summary>
    public static BitLlamaPredictionEnginePool<TIn, TOut> CreatePredictionEnginePool<TIn, TOut>(this ModelOperationsCatalog catalog,
        ITransformer model, int maximumRetained = 0)
        where TIn : class
        where TOut : class, new() =>
        new(catalog, model, maximumRetained);

    static BitLlamaTransformer Find(ITransformer model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return FindOrNull(model) ?? throw new ArgumentException(
            $"The model ({model.GetType().Name}) contains no BitLlama transformer: fit a pipeline ending in ml.Transforms.BitLlama(...), or load one with ml.Model.LoadBitt.", nameof(model));
    }

    static BitLlamaTransformer? FindOrNull(ITransformer t) => t switch
    {
        BitLlamaTransformer b => b,
        IEnumerable<ITransformer> chain => chain.Select(FindOrNull).LastOrDefault(b => b is not null),
        _ => null,
    };
}
