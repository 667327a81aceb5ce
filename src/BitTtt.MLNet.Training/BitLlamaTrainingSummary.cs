using BitTtt.Training;

namespace BitTtt.MLNet;

/// <summary>What a BitLlama Fit measured.</summary>
public sealed record BitLlamaTrainingSummary
{
    /// <summary>Optimizer steps reached (counting resumed ones).</summary>
    public required int Steps { get; init; }
    /// <summary>False when training stopped early (StopAfterSteps).</summary>
    public required bool Completed { get; init; }
    public required double TrainLoss { get; init; }
    /// <summary>Mean next-token cross-entropy (nats) on the validation tokens; null without validation data.</summary>
    public double? ValidationLoss { get; init; }
    /// <summary>
    /// Cross-entropy (nats) of the validation tokens under the training corpus' unigram distribution
    /// (add-one smoothed): what a model that ignores context scores. A useful model is below it.
    /// </summary>
    public double? UnigramValidationLoss { get; init; }
    /// <summary>
    /// The unigram (add-one), interpolated Kneser-Ney bigram and trigram cross-entropies (nats/token) of the
    /// validation tokens, counted on the training tokens; null without validation data. A model that does not
    /// beat the trigram has learned less than counting would.
    /// </summary>
    public BitTtt.Evaluation.BaselineLosses? Baselines { get; init; }
    public required long TrainTokens { get; init; }
    public long ValidationTokens { get; init; }
    public string? CheckpointPath { get; init; }
    public required TimeSpan Elapsed { get; init; }
    /// <summary>What <see cref="BitTtt.Training.TrainingOptions.TimeBudget"/> chose (shape, batch, learning rate, steps); null without a budget.</summary>
    public BitTtt.Training.TrainingPlan? Plan { get; init; }
    /// <summary>
    /// When the model does not beat all three <see cref="Baselines"/>: which one it misses and what to change (more
    /// steps, a smaller model or vocabulary, a time budget), naming the options as <c>BitLlamaOptions</c> spells them.
    /// Null when it beats them or without validation data.
    /// </summary>
    public string? Advice { get; init; }
    /// <summary>Fine-tuning (<c>InitialModel</c>): the validation loss of the model it started from, before the first step.</summary>
    public double? InitialValidationLoss { get; init; }
    /// <summary>Conversations: how many were trained on, cut to the window, or skipped (docs/training.md, "Conversations"); null for a text.</summary>
    public ExampleStats? Examples { get; init; }
}

/// <summary>
/// <c>transformer.Training</c>: what Fit measured, for a transformer fitted by <see cref="BitLlamaEstimator"/>. The
/// summary lives in this package (the predict-only BitTtt.MLNet knows nothing of training), kept beside the
/// transformer without holding it alive.
/// </summary>
public static class BitLlamaTrainingSummaryExtensions
{
    static readonly System.Runtime.CompilerServices.ConditionalWeakTable<BitLlamaTransformer, BitLlamaTrainingSummary> Summaries = new();

    extension(BitLlamaTransformer transformer)
    {
        /// <summary>What Fit measured (losses, steps, token counts); null for a model loaded from a file.</summary>
        public BitLlamaTrainingSummary? Training => Summaries.TryGetValue(transformer, out var s) ? s : null;
    }

    internal static void Attach(BitLlamaTransformer transformer, BitLlamaTrainingSummary summary) => Summaries.AddOrUpdate(transformer, summary);
}
