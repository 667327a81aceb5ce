using BitTtt.Tokenization;

namespace BitTtt.MLNet;

/// <summary>Options of <see cref="TokenizeForBitLlamaEstimator"/>.</summary>
public sealed class TokenizeForBitLlamaOptions
{
    /// <summary>The text column to tokenize; null = the same as <see cref="OutputColumnName"/>, as everywhere in ML.NET.</summary>
    public string? InputColumnName { get; set; } = BitLlamaDefaults.TextColumnName;
    /// <summary>The added column: a variable-length vector of UInt32 token ids.</summary>
    public string OutputColumnName { get; set; } = BitLlamaDefaults.TokensColumnName;
    /// <summary>Vocabulary size of the byte-level BPE trained by Fit (3 specials + 256 bytes + merges).</summary>
    public int VocabSize { get; set; } = BitLlamaDefaults.VocabSize;
    /// <summary>A pair must occur at least this often to be merged.</summary>
    public int MinFrequency { get; set; } = BitLlamaDefaults.MinFrequency;

    internal void Validate()
    {
        if (InputColumnName is not null) OptionChecks.Name(InputColumnName, nameof(InputColumnName));
        OptionChecks.Name(OutputColumnName, nameof(OutputColumnName));
        new BpeTrainerOptions { VocabSize = VocabSize, MinFrequency = MinFrequency }.Validate();   // the tokenizer trainer's rules, same names
    }
}
