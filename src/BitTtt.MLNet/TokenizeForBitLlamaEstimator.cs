using BitTtt.Tokenization;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet;

/// <summary>
/// Tokenizes a text column for BitLlama. <b>Trains on:</b> the input text column, streamed row by row into
/// the byte-level BPE trainer (unless a tokenizer was given). <b>Input:</b> a String column.
/// <b>Output:</b> a variable-length vector of UInt32 token ids, annotated with the tokenizer so that
/// <c>BitLlama</c> can use it. Usable on its own.
/// </summary>
public sealed class TokenizeForBitLlamaEstimator : IEstimator<TokenizeForBitLlamaTransformer>
{
    readonly TransformsCatalog _catalog;
    readonly TokenizeForBitLlamaOptions _options;
    readonly BitLlamaTokenizer? _given;

    internal TokenizeForBitLlamaEstimator(TransformsCatalog catalog, TokenizeForBitLlamaOptions options, BitLlamaTokenizer? tokenizer)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _catalog = catalog;
        _options = options;
        _given = tokenizer;
        if (tokenizer is not null) RequireSerializable(tokenizer);
    }

    /// <summary>The text column; InputColumnName null means the output column's name, as in ML.NET.</summary>
    string Input => _options.InputColumnName ?? _options.OutputColumnName;

    /// <summary>The token column carries the tokenizer as tokenizer.json (and .bitt ships it): it must serialize.</summary>
    static void RequireSerializable(BitLlamaTokenizer tokenizer)
    {
        try { tokenizer.ToJson(); }
        catch (NotSupportedException e)
        {
            throw new ArgumentException($"This tokenizer cannot be stored with a BitLlama model: {e.Message}", nameof(tokenizer), e);
        }
    }

    public TokenizeForBitLlamaTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var column = SchemaChecks.Text(input.Schema, Input);
        var tokenizer = _given ?? Train(input, column);
        return new TokenizeForBitLlamaTransformer(_catalog, tokenizer, Input, _options.OutputColumnName);
    }

    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        SchemaChecks.Text(inputSchema, Input);
        // SchemaShape.Column cannot be built outside ML.NET: borrow the shape from an unfitted mapping.
        return TokenizeForBitLlamaTransformer
            .CreateMapping(_catalog, Input, _options.OutputColumnName, "", tokenizer: null)
            .GetOutputSchema(inputSchema);
    }

    BitLlamaTokenizer Train(IDataView input, DataViewSchema.Column column)
    {
        var host = MlHost.Host(MlHost.Environment(_catalog));
        using var channel = host.Start("TokenizeForBitLlama");
        MlHost.Info(channel, $"Training a byte-level BPE tokenizer (vocabulary {_options.VocabSize}) on column '{column.Name}'.");
        LoaderCheck.WarnIfCut(input, column.Name, channel);
        var started = System.Diagnostics.Stopwatch.StartNew();
        string json = BpeTrainer.TrainFromTexts(ReadTexts(input, column),
            new BpeTrainerOptions { VocabSize = _options.VocabSize, MinFrequency = _options.MinFrequency });
        var tokenizer = BitLlamaTokenizer.FromJson(json, source: "trained tokenizer");
        MlHost.Info(channel, $"Tokenizer trained: {tokenizer.VocabSize} tokens in {started.Elapsed.TotalSeconds:F1} s.");
        return tokenizer;
    }

    /// <summary>Streams the column; the corpus is never held in memory as a whole.</summary>
    internal static IEnumerable<string> ReadTexts(IDataView data, DataViewSchema.Column column)
    {
        using var cursor = data.GetRowCursor([column]);
        var getter = cursor.GetGetter<ReadOnlyMemory<char>>(column);
        ReadOnlyMemory<char> value = default;
        while (cursor.MoveNext())
        {
            getter(ref value);
            if (!value.IsEmpty) yield return value.ToString();
        }
    }
}
