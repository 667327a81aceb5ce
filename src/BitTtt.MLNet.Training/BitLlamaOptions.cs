using BitTtt.Inference;
using BitTtt.Tokenization;
using BitTtt.Training;
using Microsoft.ML;

namespace BitTtt.MLNet;

/// <summary>
/// Options of <see cref="BitLlamaEstimator"/>. Every training option of docs/model.md §5 is inherited from
/// <see cref="TrainingOptions"/> (the one definition, shared with <c>bit-llama train</c>; defaults in
/// <see cref="TrainingDefaults"/>); this class adds the columns, the data handling and the generation defaults the
/// fitted model stores (<see cref="Generation"/>). <see cref="TrainingOptions.Seed"/> left null takes a seed from the
/// <c>MLContext</c>, so <c>new MLContext(seed: 1)</c> makes Fit reproducible.
/// </summary>
public sealed class BitLlamaOptions : TrainingOptions
{
    // Columns
    /// <summary>Token ids (vector of UInt32 or Int32), normally the output of <c>TokenizeForBitLlama</c>.</summary>
    public string TokensColumnName { get; set; } = BitLlamaDefaults.TokensColumnName;
    /// <summary>
    /// The prompt column of the fitted transformer; null = the text column the tokens came from. With
    /// <see cref="ResponseColumnName"/> it is also what training reads: each row is a conversation of one user message
    /// (this column) and the assistant's reply.
    /// </summary>
    public string? PromptColumnName { get; set; }
    /// <summary>
    /// Train on conversations: each row's <see cref="PromptColumnName"/> is a user message and this String column the
    /// reply the model learns (the loss counts the replies only, unless <see cref="TrainingOptions.TrainOnAllTokens"/>).
    /// The fitted model stores the chat template (docs/model.md §6) and its <c>Completion</c> column is the model's reply to
    /// the prompt column. Null: train on the token column.
    /// </summary>
    public string? ResponseColumnName { get; set; }
    /// <summary>
    /// Train on conversations: a String column holding one conversation per row as JSON, the OpenAI fine-tuning format
    /// (<c>{"messages": [{"role", "content"}, ...]}</c> or the bare messages array); blank rows are skipped. The fitted
    /// transformer reads the same column and its <c>Completion</c> is the model's next reply. Null: not used.
    /// </summary>
    public string? MessagesColumnName { get; set; }
    /// <summary>The string column the fitted transformer adds.</summary>
    public string CompletionColumnName { get; set; } = BitLlamaDefaults.CompletionColumnName;
    /// <summary>
    /// The tokenizer of the token column. Null = the one <c>TokenizeForBitLlama</c> attached to the column;
    /// set it when the ids come from elsewhere. On conversations: the tokenizer to encode them with (the chat tokens are
    /// added when it lacks them); null = <see cref="TrainingOptions.InitialModel"/>'s, else the token column's if the
    /// input has one, else a byte-level BPE trained on the messages' text.
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

    // Generation
    /// <summary>
    /// The generation defaults the fitted model stores in its <c>.bitt</c> (config field <c>generation</c>): its
    /// <c>Completion</c> column, <c>CreateTextGenerator</c>, a chat client, <c>bit-llama generate</c>, the web API and
    /// Python all start from them. A null <see cref="SamplingOptions.Seed"/> stores the training seed, so predictions
    /// are reproducible; stop strings are given per call, never stored.
    /// </summary>
    public SamplingOptions Generation { get; set; } = new();

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> (or <see cref="ArgumentException"/> for a column name) naming the first bad option.</summary>
    public override void Validate()
    {
        OptionChecks.Name(TokensColumnName, nameof(TokensColumnName));
        OptionChecks.Name(CompletionColumnName, nameof(CompletionColumnName));
        if (PromptColumnName is not null) OptionChecks.Name(PromptColumnName, nameof(PromptColumnName));
        if (ResponseColumnName is not null) OptionChecks.Name(ResponseColumnName, nameof(ResponseColumnName));
        if (MessagesColumnName is not null) OptionChecks.Name(MessagesColumnName, nameof(MessagesColumnName));
        OptionChecks.Check(ResponseColumnName is null || MessagesColumnName is null, nameof(ResponseColumnName),
            $"and {nameof(MessagesColumnName)} are two ways to give conversations: set one of them");
        OptionChecks.Check(ResponseColumnName is null || PromptColumnName is not null, nameof(ResponseColumnName),
            $"needs {nameof(PromptColumnName)}: the user message each reply answers");
        base.Validate();
        Check(ValidationFraction >= 0 && ValidationFraction < 1, nameof(ValidationFraction), $"must be in [0, 1), got {ValidationFraction}");
        ArgumentNullException.ThrowIfNull(Generation, nameof(Generation));
        Generation.Validate(NameStyle.Property, nameof(Generation) + ".");
        if (Generation.StopStrings.Count > 0)
            throw new OptionException(nameof(Generation) + "." + nameof(SamplingOptions.StopStrings), "cannot be stored with a model; give stop strings with each call");
    }

    /// <summary>True when the estimator trains on conversations (<see cref="ResponseColumnName"/> or <see cref="MessagesColumnName"/>).</summary>
    internal bool Chat => ResponseColumnName is not null || MessagesColumnName is not null;

    /// <summary>What the fitted model stores: <see cref="Generation"/>, with the training seed when it names none.</summary>
    internal SamplingOptions StoredGeneration(int trainingSeed) => Generation with { Seed = Generation.Seed ?? trainingSeed };

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
