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

    public const int VocabSize = BpeTrainerOptions.DefaultVocabSize;
    public const int MinFrequency = BpeTrainerOptions.DefaultMinFrequency;

    /// <summary>Text put between consecutive rows when their tokens are joined into one training stream.</summary>
    public const string RowSeparator = "\n";
}
