namespace BitTtt.Tokenization;

/// <summary>Options for <see cref="BpeTrainer"/>.</summary>
public sealed class BpeTrainerOptions
{
    /// <summary>Smallest allowed vocabulary: the 3 special tokens plus the 256 byte symbols.</summary>
    public const int MinVocabSize = BpeVocabulary.FirstMergeId;

    /// <summary>Target vocabulary size including the 3 specials and 256 byte symbols (at least 259).</summary>
    public int VocabSize { get; init; } = 4096;

    /// <summary>A pair seen fewer times than this in the corpus is never merged; training stops there.</summary>
    public int MinFrequency { get; init; } = 2;

    /// <summary>Throws <see cref="ArgumentException"/> naming the option when a value is out of range.</summary>
    public void Validate()
    {
        if (VocabSize < MinVocabSize)
        {
            throw new ArgumentException(
                $"VocabSize {VocabSize} is too small: a byte-level BPE vocabulary needs at least {MinVocabSize} ids (3 special tokens + 256 byte symbols)",
                nameof(VocabSize));
        }
        if (MinFrequency < 1)
        {
            throw new ArgumentException($"MinFrequency {MinFrequency} must be at least 1", nameof(MinFrequency));
        }
    }
}
