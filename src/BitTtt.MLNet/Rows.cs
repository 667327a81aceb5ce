using Microsoft.ML.Data;

namespace BitTtt.MLNet;

/// <summary>
/// One line of text in a column <c>Text</c>: the rows of <c>mlContext.Data.LoadTextLines(path)</c>, and a ready input
/// class for prediction engines. <c>LoadFromTextFile&lt;TextRow&gt;</c> also fills it, but cuts each line at its first tab
/// and skips empty and <c>//</c> lines (docs/mlnet.md, "Loading text").
/// </summary>
public sealed class TextRow
{
    [LoadColumn(0)]
    public string Text { get; set; } = "";
}

/// <summary>The prediction of a BitLlama transformer: its <c>Completion</c> column.</summary>
public sealed class Completion
{
    [ColumnName(BitLlamaDefaults.CompletionColumnName)]
    public string Text { get; set; } = "";

    public override string ToString() => Text;
}

// Row types of the inner CustomMapping transformers; the column names are set per instance through
// SchemaDefinition, so these field names never reach the user's schema. Public because ML.NET's
// CustomMapping binds them by reflection.

/// <summary>Input of the inner mapping (the text column). Not for direct use.</summary>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
public sealed class BitLlamaTextInput
{
    public string Text = "";
}

/// <summary>Output of the inner tokenizer mapping. Not for direct use.</summary>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
public sealed class BitLlamaTokensOutput
{
    public uint[] Tokens = [];
}

/// <summary>Output of the inner generation mapping. Not for direct use.</summary>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
public sealed class BitLlamaCompletionOutput
{
    public string Completion = "";
}

/// <summary>Output of the inner score mapping. Not for direct use.</summary>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
public sealed class BitLlamaScoreOutput
{
    public float Score;
    public float TokenCount;
}

/// <summary>Output of the inner featurize mapping. Not for direct use.</summary>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
public sealed class BitLlamaFeaturesOutput
{
    public float[] Features = [];
}
