using BitTtt.Tokenization;
using BitTtt.Training;
using Microsoft.ML;

namespace BitTtt.MLNet;

/// <summary>
/// Options of <see cref="BitLlamaEstimator"/>: the columns, every training option of docs/model.md §5, and the
/// generation defaults the fitted transformer uses for its <c>Completion</c> column.
/// </summary>
public sealed class BitLlamaOptions
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

    // Model shape and training (docs/model.md §5)
    public int HiddenDim { get; set; } = BitLlamaDefaults.HiddenDim;
    public int NumLayers { get; set; } = BitLlamaDefaults.NumLayers;
    /// <summary>SwiGLU width; 0 = 4 * HiddenDim.</summary>
    public int IntermediateDim { get; set; } = BitLlamaDefaults.IntermediateDim;
    public int ContextLength { get; set; } = BitLlamaDefaults.ContextLength;
    public int BatchSize { get; set; } = BitLlamaDefaults.BatchSize;
    public double LearningRate { get; set; } = BitLlamaDefaults.LearningRate;
    public int WarmupSteps { get; set; } = BitLlamaDefaults.WarmupSteps;
    public double MinLearningRate { get; set; } = BitLlamaDefaults.MinLearningRate;
    public int SaveInterval { get; set; } = BitLlamaDefaults.SaveInterval;
    public int MaxSteps { get; set; } = BitLlamaDefaults.MaxSteps;
    /// <summary>The TTT layer: <see cref="TttType.Delta"/> (docs/model.md §3b, the default) or <see cref="TttType.Reconstruct"/> (the seed's, §3a).</summary>
    public TttType TttType { get; set; } = BitLlamaDefaults.TttType;
    /// <summary>TTT inner learning rate (delta: the scale of β; reconstruct: the step η); null = the type's default (1.0 delta, 0.1 reconstruct).</summary>
    public float? InnerLr { get; set; }
    /// <summary>Reconstruct: the TTT mini-batch size. Delta: only the block size of the parallel training form.</summary>
    public int TttChunk { get; set; } = BitLlamaDefaults.TttChunk;
    /// <summary>Delta only: heads.</summary>
    public int TttHeads { get; set; } = BitLlamaDefaults.TttHeads;
    /// <summary>Delta only: width of one head; 0 = HiddenDim / TttHeads.</summary>
    public int TttHeadDim { get; set; } = BitLlamaDefaults.TttHeadDim;
    /// <summary>Delta only: kernel of the short causal convolution on q, k, v; 0 = none.</summary>
    public int TttConv { get; set; } = BitLlamaDefaults.TttConv;
    /// <summary>Seeds weight initialisation, batch order and, for the fitted transformer, sampling.</summary>
    public int Seed { get; set; } = BitLlamaDefaults.Seed;
    /// <summary>TorchSharp device: "cpu", "cuda", "cuda:1".</summary>
    public string Device { get; set; } = BitLlamaDefaults.Device;
    public double WeightDecay { get; set; } = BitLlamaDefaults.WeightDecay;
    public double GradientClip { get; set; } = BitLlamaDefaults.GradientClip;
    public int EvalInterval { get; set; } = BitLlamaDefaults.EvalInterval;
    public int EvalBatches { get; set; } = BitLlamaDefaults.EvalBatches;
    /// <summary>Stop (with a checkpoint) after this many steps of this run, leaving the schedule of MaxSteps intact.</summary>
    public int? StopAfterSteps { get; set; }
    /// <summary>Where checkpoints are written every SaveInterval steps and on cancellation; null = none.</summary>
    public string? CheckpointDirectory { get; set; }
    /// <summary>Continue from the checkpoint in <see cref="CheckpointDirectory"/>.</summary>
    public bool Resume { get; set; }
    /// <summary>TorchSharp threads; 0 = all cores.</summary>
    public int Threads { get; set; } = BitLlamaDefaults.Threads;

    // Data
    /// <summary>
    /// Validation rows: an IDataView with the token column, or with the text column the tokens came from
    /// (tokenized with the same tokenizer). Null = hold out <see cref="ValidationFraction"/> of the rows.
    /// </summary>
    public IDataView? ValidationSet { get; set; }
    /// <summary>Share of the training rows held out for validation when <see cref="ValidationSet"/> is null; 0 = none.</summary>
    public double ValidationFraction { get; set; } = BitLlamaDefaults.ValidationFraction;
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

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        CheckName(TokensColumnName, nameof(TokensColumnName));
        CheckName(CompletionColumnName, nameof(CompletionColumnName));
        if (PromptColumnName is not null) CheckName(PromptColumnName, nameof(PromptColumnName));
        Check(HiddenDim > 0 && HiddenDim % 4 == 0, nameof(HiddenDim), $"must be a positive multiple of 4, got {HiddenDim}");
        Check(NumLayers > 0, nameof(NumLayers), $"must be positive, got {NumLayers}");
        Check(IntermediateDim >= 0, nameof(IntermediateDim), $"must be 0 (= 4 * HiddenDim) or positive, got {IntermediateDim}");
        Check(ContextLength > 1, nameof(ContextLength), $"must be at least 2, got {ContextLength}");
        Check(BatchSize > 0, nameof(BatchSize), $"must be positive, got {BatchSize}");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), $"must be a finite number > 0, got {LearningRate}");
        Check(MinLearningRate >= 0 && MinLearningRate <= LearningRate, nameof(MinLearningRate), $"must be in [0, LearningRate = {LearningRate}], got {MinLearningRate}");
        Check(WarmupSteps >= 0, nameof(WarmupSteps), $"must be >= 0, got {WarmupSteps}");
        Check(SaveInterval > 0, nameof(SaveInterval), $"must be positive, got {SaveInterval}");
        Check(MaxSteps > 0, nameof(MaxSteps), $"must be positive, got {MaxSteps}");
        Check(TttType is TttType.Delta or TttType.Reconstruct, nameof(TttType), $"must be Delta or Reconstruct, got {(int)TttType}");
        Check(InnerLr is null || float.IsFinite(InnerLr.Value) && InnerLr >= 0, nameof(InnerLr), $"must be null (the type's default) or a finite number >= 0, got {InnerLr}");
        Check(TttChunk > 0, nameof(TttChunk), $"must be positive, got {TttChunk}");
        if (TttType == TttType.Delta)
        {
            Check(TttHeads > 0, nameof(TttHeads), $"must be positive, got {TttHeads}");
            Check(TttHeadDim >= 0, nameof(TttHeadDim), $"must be 0 (= HiddenDim / TttHeads) or positive, got {TttHeadDim}");
            Check(TttHeadDim > 0 || HiddenDim % TttHeads == 0, nameof(TttHeads), $"must divide HiddenDim ({HiddenDim}) unless TttHeadDim is set, got {TttHeads}");
            Check(TttConv >= 0, nameof(TttConv), $"must be 0 (no convolution) or positive, got {TttConv}");
        }
        Check(IsDeviceName(Device), nameof(Device), $"must be cpu, cuda or cuda:N, got '{Device}'");
        Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), nameof(WeightDecay), $"must be a finite number >= 0, got {WeightDecay}");
        Check(GradientClip > 0 && double.IsFinite(GradientClip), nameof(GradientClip), $"must be a finite number > 0, got {GradientClip}");
        Check(EvalInterval > 0, nameof(EvalInterval), $"must be positive, got {EvalInterval}");
        Check(EvalBatches > 0, nameof(EvalBatches), $"must be positive, got {EvalBatches}");
        Check(StopAfterSteps is null or > 0, nameof(StopAfterSteps), $"must be null or positive, got {StopAfterSteps}");
        Check(!Resume || CheckpointDirectory is not null, nameof(Resume), "needs CheckpointDirectory (the checkpoint to resume from)");
        Check(Threads >= 0, nameof(Threads), $"must be 0 (all cores) or positive, got {Threads}");
        Check(ValidationFraction >= 0 && ValidationFraction < 1, nameof(ValidationFraction), $"must be in [0, 1), got {ValidationFraction}");
        Check(MaxNewTokens > 0, nameof(MaxNewTokens), $"must be positive, got {MaxNewTokens}");
        Check(float.IsFinite(Temperature) && Temperature >= 0, nameof(Temperature), $"must be a finite number >= 0, got {Temperature}");
        Check(TopK >= 0, nameof(TopK), $"must be 0 (off) or positive, got {TopK}");
        Check(TopP > 0 && TopP <= 1, nameof(TopP), $"must be in (0, 1], got {TopP}");
        Check(float.IsFinite(RepetitionPenalty) && RepetitionPenalty > 0, nameof(RepetitionPenalty), $"must be a finite number > 0, got {RepetitionPenalty}");
    }

    // The name only (no libtorch is loaded here): a typo such as "gpu" fails before the tokenizer trains, not after.
    static bool IsDeviceName(string? device)
    {
        if (string.IsNullOrWhiteSpace(device)) return false;
        try { TorchDevice.Parse(device); return true; }
        catch (ArgumentException) { return false; }
    }

    internal static void Check(bool ok, string option, string message)
    {
        if (!ok) throw new ArgumentOutOfRangeException(option, $"{option} {message}.");
    }

    internal static void CheckName(string? name, string option)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException($"{option} must name a column, got '{name}'.", option);
    }

    internal GenerationSettings Generation() => new(MaxNewTokens, Temperature, TopK, TopP, RepetitionPenalty, Seed);

    internal TrainingOptions ToTrainingOptions() => new()
    {
        HiddenDim = HiddenDim, NumLayers = NumLayers, IntermediateDim = IntermediateDim, ContextLength = ContextLength,
        BatchSize = BatchSize, LearningRate = LearningRate, WarmupSteps = WarmupSteps, MinLearningRate = MinLearningRate,
        SaveInterval = SaveInterval, MaxSteps = MaxSteps, TttType = TttType, InnerLr = InnerLr, TttChunk = TttChunk,
        TttHeads = TttHeads, TttHeadDim = TttHeadDim, TttConv = TttConv, Seed = Seed, Device = Device,
        WeightDecay = WeightDecay, GradientClip = GradientClip, EvalInterval = EvalInterval, EvalBatches = EvalBatches,
        StopAfterSteps = StopAfterSteps, CheckpointDirectory = CheckpointDirectory, Resume = Resume, Threads = Threads,
    };
}
