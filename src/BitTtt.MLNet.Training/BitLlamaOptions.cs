using BitTtt.Tokenization;
using BitTtt.Training;
using Microsoft.ML;

namespace BitTtt.MLNet;

/// <summary>
/// Options of <see cref="BitLlamaEstimator"/>. Every training option of docs/model.md §5 is inherited from
/// <see cref="TrainingOptions"/> (the one definition, shared with <c>bit-llama train</c>; defaults in
/// <see cref="TrainingDefaults"/>); this class adds the columns, the data handling and the generation defaults
/// the fitted transformer uses for its <c>Completion</c> column. <see cref="TrainingOptions.Seed"/> left null
/// takes a seed from the <c>MLContext</c>, so <c>new MLContext(seed: 1)</c> makes Fit reproducible.
/// </summary>
public sealed class BitLlamaOptions : TrainingOptions
{
    // Columns
    /// <summary>Token ids (vector of UInt32 or Int32), normally the output of <c>TokenizeForBitLlama</c>.</summary>
    public string TokensColumnName { get; set; } = BitLlamaDefaults.TokensColumnName;
    /// <summary>The prompt column of the fitted transformer; null = the text column the tokens came from.</summary>
    public string? PromptColumnName { get; set; }
    /// <summary>The string column the fitted transformer adds.</summary>
    public string CompletionColumnName { get; set; } = BitLlamaDefaults.CompletionColumnName;
    /// <summary>
    /// The tokenizer of the token column. Null = the one <c>TokenizeForBitLlama</c> attached to the column;
    /// set it when the ids come from elsewhere.
    /// </summary>
    public BitLlamaTokenizer? Tokenizer { get; set; }

    // Data
    /// <summary>
    /// Validation rows: an IDataView with the token column, or with the text column the tokens came from
    /// (tokenized with the same tokenizer). Null = hold out <see cref="ValidationFraction"/> of the rows.
    /// </summary>
    public IDataView? ValidationSet { get; set; }
    /// <summary>Share of the training rows held out for validation when <see cref="ValidationSet"/> is null; 0 = none.</summary>
    public double ValidationFraction { get; set; } = TrainingDefaults.ValidationFraction;
    /// <summary>Text whose tokens are put between rows (a line-per-row file loses its newlines); empty = none.</summary>
    public string RowSeparator { get; set; } = BitLlamaDefaults.RowSeparator;
    /// <summary>Where the on-disk token files go during Fit; null = the system temp directory.</summary>
    public string? WorkingDirectory { get; set; }

    // Progress and cancellation
    /// <summary>Receives every training step (also logged through <c>MLContext.Log</c>).</summary>
    public IProgress<TrainingProgress>? Progress { get; set; }
    /// <summary>Cancels Fit; with a CheckpointDirectory a checkpoint is written first, so Resume continues from it.</summary>
    public CancellationToken CancellationToken { get; set; }

    // Generation defaults of the fitted transformer (stored in .bitt)
    public int MaxNewTokens { get; set; } = BitLlamaDefaults.MaxNewTokens;
    /// <summary>0 = greedy.</summary>
    public float Temperature { get; set; } = BitLlamaDefaults.Temperature;
    public int TopK { get; set; } = BitLlamaDefaults.TopK;
    public float TopP { get; set; } = BitLlamaDefaults.TopP;
    public float RepetitionPenalty { get; set; } = BitLlamaDefaults.RepetitionPenalty;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> (or <see cref="ArgumentException"/> for a column name) naming the first bad option.</summary>
    public override void Validate()
    {
        OptionChecks.Name(TokensColumnName, nameof(TokensColumnName));
        OptionChecks.Name(CompletionColumnName, nameof(CompletionColumnName));
        if (PromptColumnName is not null) OptionChecks.Name(PromptColumnName, nameof(PromptColumnName));
        base.Validate();
        Check(ValidationFraction >= 0 && ValidationFraction < 1, nameof(ValidationFraction), $"must be in [0, 1), got {ValidationFraction}");
        Check(MaxNewTokens > 0, nameof(MaxNewTokens), $"must be positive, got {MaxNewTokens}");
        Check(float.IsFinite(Temperature) && Temperature >= 0, nameof(Temperature), $"must be a finite number >= 0, got {Temperature}");
        Check(TopK >= 0, nameof(TopK), $"must be 0 (off) or positive, got {TopK}");
        Check(TopP > 0 && TopP <= 1, nameof(TopP), $"must be in (0, 1], got {TopP}");
        Check(float.IsFinite(RepetitionPenalty) && RepetitionPenalty > 0, nameof(RepetitionPenalty), $"must be a finite number > 0, got {RepetitionPenalty}");
    }

    internal GenerationSettings Generation(int seed) => new(MaxNewTokens, Temperature, TopK, TopP, RepetitionPenalty, seed);

    /// <summary>
    /// A copy for one Fit with the seed and device resolved, so the caller's options are never changed and a
    /// training option added to <see cref="TrainingOptions"/> reaches the trainer without another list to update.
    /// </summary>
    internal BitLlamaOptions ForRun(int seed, string device)
    {
        var copy = (BitLlamaOptions)MemberwiseClone();
        copy.Seed = seed;
        copy.Device = device;
        return copy;
    }
}
