using BitTtt.Tokenization;

namespace BitTtt.MLNet;

/// <summary>
/// Default values of the columns and the tokenizer, shared by <see cref="TokenizeForBitLlamaOptions"/>, the catalog
/// overloads and BitTtt.MLNet.Training's <c>BitLlamaOptions</c>. The training defaults (docs/model.md §5) live in one
/// place, <c>BitTtt.Training.TrainingDefaults</c>; the generation defaults in another, <see cref="BitTtt.Inference.SamplingOptions"/>.
/// </summary>
public static class BitLlamaDefaults
{
    public const string TextColumnName = "Text";
    public const string TokensColumnName = "Tokens";
    public const string CompletionColumnName = "Completion";
    public const string ScoreColumnName = "Score";
    public const string TokenCountColumnName = "TokenCount";
    public const string FeaturesColumnName = "Features";

    public const int VocabSize = BpeTrainerOptions.DefaultVocabSize;
    public const int MinFrequency = BpeTrainerOptions.DefaultMinFrequency;

    /// <summary>Text put between consecutive rows when their tokens are joined into one training stream.</summary>
    public const string RowSeparator = "\n";

    /// <summary>Tokens of a row that <c>BitLlamaScore</c> / <c>BitLlamaFeaturize</c> read at most.</summary>
    public const int ColumnMaxTokens = 1024;

    /// <summary>Rows a <c>BitLlamaScore</c> / <c>BitLlamaFeaturize</c> cursor computes together.</summary>
    public const int ColumnBatchSize = 64;
}
