using BitTtt.MLNet;
using BitTtt.Tokenization;
using Microsoft.ML.Data;

namespace Microsoft.ML;

/// <summary>
/// BitLlama's catalog extensions without TorchSharp: <c>ml.Transforms.TokenizeForBitLlama</c>, <c>ml.Model.SaveAsBitt</c> /
/// <c>LoadBitt</c> / <c>LoadWithBitLlama</c> / <c>CreateTextGenerator</c> / <c>CreatePredictionEnginePool</c>.
/// The trainer, <c>ml.Transforms.BitLlama</c>, is in BitTtt.MLNet.Training. Both live in the <c>Microsoft.ML</c> namespace,
/// as ML.NET's own catalog extensions and Microsoft.ML.TorchSharp's do, so <c>using Microsoft.ML;</c> finds them.
/// </summary>
public static partial class BitLlamaCatalog
{
    /// <summary>Trains a byte-level BPE tokenizer on <paramref name="inputColumnName"/> at Fit and adds the token ids.</summary>
    /// <param name="catalog">The transforms catalog, <c>mlContext.Transforms</c>.</param>
    /// <param name="outputColumnName">The added column: vector of UInt32 token ids.</param>
    /// <param name="inputColumnName">The String column to tokenize (default "Text"); null = the same as <paramref name="outputColumnName"/>, as everywhere in ML.NET.</param>
    /// <param name="vocabSize">Vocabulary size of the trained tokenizer.</param>
    public static TokenizeForBitLlamaEstimator TokenizeForBitLlama(this TransformsCatalog catalog,
        string outputColumnName = BitLlamaDefaults.TokensColumnName, string? inputColumnName = BitLlamaDefaults.TextColumnName,
        int vocabSize = BitLlamaDefaults.VocabSize) =>
        catalog.TokenizeForBitLlama(new TokenizeForBitLlamaOptions
        {
            OutputColumnName = outputColumnName,
            InputColumnName = inputColumnName,
            VocabSize = vocabSize,
        });

    /// <summary>Trains a byte-level BPE tokenizer at Fit, as <paramref name="options"/> say, and adds the token ids.</summary>
    public static TokenizeForBitLlamaEstimator TokenizeForBitLlama(this TransformsCatalog catalog, TokenizeForBitLlamaOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new TokenizeForBitLlamaEstimator(catalog, options, tokenizer: null);
    }

    /// <summary>Tokenizes with a given Microsoft.ML.Tokenizers tokenizer (e.g. GPT-2's); Fit trains nothing.
    /// <paramref name="inputColumnName"/> null = the same as <paramref name="outputColumnName"/>.</summary>
    public static TokenizeForBitLlamaEstimator TokenizeForBitLlama(this TransformsCatalog catalog, Microsoft.ML.Tokenizers.Tokenizer tokenizer,
        string outputColumnName = BitLlamaDefaults.TokensColumnName, string? inputColumnName = BitLlamaDefaults.TextColumnName)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(tokenizer);
        return new TokenizeForBitLlamaEstimator(catalog, Options(outputColumnName, inputColumnName), BitLlamaTokenizer.FromTokenizer(tokenizer));
    }

    /// <summary>Tokenizes with the tokenizer in a Hugging Face tokenizer.json file; Fit trains nothing.
    /// <paramref name="inputColumnName"/> null = the same as <paramref name="outputColumnName"/>.</summary>
    public static TokenizeForBitLlamaEstimator TokenizeForBitLlama(this TransformsCatalog catalog,
        string outputColumnName, string? inputColumnName, string tokenizerPath)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(tokenizerPath);
        return new TokenizeForBitLlamaEstimator(catalog, Options(outputColumnName, inputColumnName), BitLlamaTokenizer.Load(tokenizerPath));
    }

    static TokenizeForBitLlamaOptions Options(string output, string? input) => new() { OutputColumnName = output, InputColumnName = input };

    /// <summary>
    /// Writes the BitLlama in <paramref name="model"/> (a fitted pipeline or the transformer itself) as one
    /// <c>.bitt</c> file (docs/model.md §4.3: config with the generation defaults, tokenizer, weights), atomically:
    /// a path that cannot be written is one <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/>
    /// naming it, and leaves no file behind. Other transforms of the pipeline are not stored: use
    /// <c>Model.Save</c> + <c>LoadWithBitLlama</c> for those.
    /// </summary>
    public static void SaveAsBitt(this ModelOperationsCatalog catalog, ITransformer model, string path)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        BittFile.Save(Find(model), path);
    }

    /// <summary>
    /// Saves the model's BitLlama as a <c>.bitt</c>; <paramref name="packed"/> writes the packed file (docs/format.md §7:
    /// 2-bit ternary weights, int8 embedding and LM head, about a sixth of the size), which <c>LoadBitt</c>, the managed
    /// engine and Python read; training and the TorchSharp engine need the fp32 file.
    /// </summary>
    public static void SaveAsBitt(this ModelOperationsCatalog catalog, ITransformer model, string path, bool packed)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        BittFile.Save(Find(model), path, packed);
    }

    /// <summary>
    /// Writes the <c>.bitt</c> file into <paramref name="stream"/> at its position (the stream stays open). The
    /// file is built completely before the first byte goes to the stream, so a failure while building writes
    /// nothing; a stream that cannot be written is an <see cref="ArgumentException"/> before any work.
    /// </summary>
    public static void SaveAsBitt(this ModelOperationsCatalog catalog, ITransformer model, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(stream);
        BittFile.Save(Find(model), stream);
    }

    /// <summary>The stream form of <see cref="SaveAsBitt(ModelOperationsCatalog, ITransformer, string, bool)"/>.</summary>
    public static void SaveAsBitt(this ModelOperationsCatalog catalog, ITransformer model, Stream stream, bool packed)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(stream);
        BittFile.Save(Find(model), stream, packed);
    }

    /// <summary>
    /// Loads a <c>.bitt</c> file or model directory as a transformer that reads the same text column the model
    /// was trained from and adds <c>Completion</c>. Managed inference only: no libtorch. Dispose it when done
    /// (generators and prediction engines made from it stop working then: see docs/mlnet.md, "Who owns the model").
    /// </summary>
    public static BitLlamaTransformer LoadBitt(this ModelOperationsCatalog catalog, string path)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return BittFile.Load(MlHost.Transforms(MlHost.Environment(catalog)), path);
    }

    /// <summary>Loads a <c>.bitt</c> file from <paramref name="stream"/>, read from its position to the end (the stream stays open).</summary>
    public static BitLlamaTransformer LoadBitt(this ModelOperationsCatalog catalog, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(stream);
        return BittFile.Load(MlHost.Transforms(MlHost.Environment(catalog)), stream);
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
        return new BitLlamaTextGenerator(Find(model));
    }

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
            $"The model ({model.GetType().Name}) contains no BitLlama transformer: fit a pipeline ending in ml.Transforms.BitLlama(...) (BitTtt.MLNet.Training), or load one with ml.Model.LoadBitt.", nameof(model));
    }

    static BitLlamaTransformer? FindOrNull(ITransformer t) => t switch
    {
        BitLlamaTransformer b => b,
        IEnumerable<ITransformer> chain => chain.Select(FindOrNull).LastOrDefault(b => b is not null),
        _ => null,
    };
}
