using BitTtt.Tokenization;

namespace BitTtt.MLNet;

/// <summary>
/// Default values of the columns, the tokenizer and generation, shared by <see cref="TokenizeForBitLlamaOptions"/>,
/// the catalog overloads and BitTtt.MLNet.Training's <c>BitLlamaOptions</c>. The training defaults (docs/model.md §5)
/// live in one place, <c>BitTtt.Training.TrainingDefaults</c>, in the BitTtt.Training package.
/// </summary>
public static class BitLlamaDefaults
{
    public const string TextColumnName = "Text";
    public const string TokensColumnName = "Tokens";
    public const string CompletionColumnName = "Completion";

    public const int VocabSize = BpeTrainerOptions.DefaultVocabSize;
    public const int MinFrequency = BpeTrainerOptions.DefaultMinFrequency;

    /// <summary>Text put between consecutive rows when their tokens are joined into one training stream.</summary>
    public const string RowSeparator = "\n";

    public const int MaxNewTokens = 64;
    public const float Temperature = 0.8f;
    public const int TopK = 40;
    public const float TopP = 0.95f;
    public const float RepetitionPenalty = 1.1f;
    /// <summary>The sampling seed of a model whose file stores none (a fitted model stores its training seed).</summary>
    public const int Seed = 42;
}
