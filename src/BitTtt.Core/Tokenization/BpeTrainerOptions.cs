namespace BitTtt.Tokenization;

/// <summary>Options for <see cref="BpeTrainer"/>; its defaults are the ones every front end uses.</summary>
public sealed class BpeTrainerOptions
{
    /// <summary>
    /// Smallest allowed vocabulary with the default options: the 3 special tokens, the 256 byte symbols and the 4 chat
    /// tokens (<see cref="ChatTokens"/>); without the chat tokens it is 4 less.
    /// </summary>
    public const int MinVocabSize = BpeVocabulary.FirstMergeId + ChatTokenCount;

    const int ChatTokenCount = 4;

    /// <summary>The vocabulary size a tokenizer is trained to when none is given.</summary>
    public const int DefaultVocabSize = 4096;

    /// <summary>The <see cref="MinFrequency"/> used when none is given.</summary>
    public const int DefaultMinFrequency = 2;

    /// <summary>
    /// Largest vocabulary trained: a tokenizer's size limit on load (<see cref="BitLlamaLoadLimits.MaxVocabSize"/>
    /// of the default limits), so a trained tokenizer always loads.
    /// </summary>
    public static int MaxVocabSize => BitLlamaLoadLimits.Default.MaxVocabSize;

    /// <summary>
    /// Target vocabulary size including the 3 specials and 256 byte symbols (<see cref="MinVocabSize"/> to
    /// <see cref="MaxVocabSize"/>). Training stops earlier when no pair occurs <see cref="MinFrequency"/> times.
    /// </summary>
    public int VocabSize { get; init; } = DefaultVocabSize;

    /// <summary>A pair seen fewer times than this in the corpus is never merged; training stops there.</summary>
    public int MinFrequency { get; init; } = DefaultMinFrequency;

    /// <summary>
    /// Reserve the chat template's special tokens (<see cref="ChatFormat.DefaultTokens"/>: <c>&lt;|system|&gt;</c>,
    /// <c>&lt;|user|&gt;</c>, <c>&lt;|assistant|&gt;</c>, <c>&lt;|end|&gt;</c>, docs/model.md §6.1) as the last four ids,
    /// so a model trained with this tokenizer can be trained or fine-tuned on conversations without growing. They
    /// count in <see cref="VocabSize"/>. Default true.
    /// </summary>
    public bool ChatTokens { get; init; } = true;

    /// <summary>The special tokens that follow the merges (the chat tokens, or none).</summary>
    internal IReadOnlyList<string> ReservedTokens => ChatTokens ? ChatFormat.DefaultTokens : [];

    /// <summary>The vocabulary the merges may fill: <see cref="VocabSize"/> less the reserved tokens.</summary>
    internal int LearnedVocabSize => VocabSize - ReservedTokens.Count;

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> naming the option when a value is out of range; the option
    /// names are marked for front ends that spell them otherwise (<see cref="OptionMessage"/>).
    /// </summary>
    public void Validate()
    {
        int smallest = BpeVocabulary.FirstMergeId + ReservedTokens.Count;
        string parts = ChatTokens ? "3 special tokens + 256 byte symbols + 4 chat tokens" : "3 special tokens + 256 byte symbols";
        if (VocabSize < smallest)
            Throw(nameof(VocabSize), $"{OptionMessage.Name(nameof(VocabSize))} {VocabSize} is too small: a byte-level BPE vocabulary needs at least {smallest} ids ({parts})");
        if (VocabSize > MaxVocabSize)
            Throw(nameof(VocabSize), $"{OptionMessage.Name(nameof(VocabSize))} {VocabSize} is too large: at most {MaxVocabSize} ids (BitLlamaLoadLimits.MaxVocabSize, the largest tokenizer that loads)");
        if (MinFrequency < 1)
            Throw(nameof(MinFrequency), $"{OptionMessage.Name(nameof(MinFrequency))} {MinFrequency} must be at least 1");
    }

    static void Throw(string option, FormattableString text) => throw OptionMessage.OutOfRange(option, text);
}
