using BitTtt.Tokenization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;

namespace BitTtt.MLNet;

/// <summary>
/// Adds a variable-length vector of UInt32 token ids computed from a text column with a byte-level BPE
/// <see cref="BitLlamaTokenizer"/>. The token column carries the tokenizer (as tokenizer.json text) and the
/// name of its text column as annotations, which is how a following <c>BitLlama</c> estimator finds them.
/// A thin wrapper over ML.NET's CustomMapping transformer: lazy, row-to-row, works in PredictionEngine.
/// </summary>
public sealed class TokenizeForBitLlamaTransformer : CustomMappingWrapper
{
    internal const string ContractName = "BitTtt.TokenizeForBitLlama (load this model with mlContext.Model.LoadWithBitLlama)";

    internal TokenizeForBitLlamaTransformer(TransformsCatalog catalog, BitLlamaTokenizer tokenizer, string inputColumnName, string outputColumnName)
    {
        Tokenizer = tokenizer;
        InputColumnName = inputColumnName;
        OutputColumnName = outputColumnName;
        TokenizerJson = tokenizer.ToJson();
        Inner = CreateMapping(catalog, inputColumnName, outputColumnName, TokenizerJson, tokenizer)
            .Fit(EmptyInput(inputColumnName));
    }

    public BitLlamaTokenizer Tokenizer { get; }
    public string InputColumnName { get; }
    public string OutputColumnName { get; }
    internal string TokenizerJson { get; }

    private protected override string TextColumn => InputColumnName;

    private protected override void SaveModel(ModelSaveContext ctx) =>
        ModelZip.Save(ctx, Inner, ModelZip.TokenizerEntry, ModelZip.TokenizerPayload(this));

    internal static CustomMappingEstimator<BitLlamaTextInput, BitLlamaTokensOutput> CreateMapping(
        TransformsCatalog catalog, string inputColumnName, string outputColumnName, string tokenizerJson, BitLlamaTokenizer? tokenizer)
    {
        var input = SchemaDefinition.Create(typeof(BitLlamaTextInput));
        input[0].ColumnName = inputColumnName;
        var output = SchemaDefinition.Create(typeof(BitLlamaTokensOutput));
        output[0].ColumnName = outputColumnName;
        output[0].AddAnnotation(SchemaChecks.TokenizerAnnotation, tokenizerJson.AsMemory(), TextDataViewType.Instance);
        output[0].AddAnnotation(SchemaChecks.SourceColumnAnnotation, inputColumnName.AsMemory(), TextDataViewType.Instance);
        Action<BitLlamaTextInput, BitLlamaTokensOutput> map = tokenizer is null
            ? (_, _) => throw new InvalidOperationException("This estimator only describes the schema; Fit it first.")
            : (i, o) => o.Tokens = Encode(tokenizer, i.Text);
        return catalog.CustomMapping(map, ContractName, input, output);
    }

    static uint[] Encode(BitLlamaTokenizer tokenizer, string? text)
    {
        if (string.IsNullOrEmpty(text)) return [];
        int[] ids = tokenizer.Encode(text);
        var result = new uint[ids.Length];
        for (int i = 0; i < ids.Length; i++) result[i] = checked((uint)ids[i]);
        return result;
    }

    /// <summary>CustomMappingEstimator.Fit only reads the schema; an empty view with the text column is enough.</summary>
    internal static IDataView EmptyInput(string textColumnName)
    {
        var builder = new DataViewSchema.Builder();
        builder.AddColumn(textColumnName, TextDataViewType.Instance);
        return new EmptyDataView(builder.ToSchema());
    }
}
