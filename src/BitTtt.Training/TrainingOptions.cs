namespace BitTtt.Training;

/// <summary>
/// Options of a training run; defaults from docs/model.md §5. <see cref="Validate"/> throws an
/// <see cref="ArgumentException"/> naming the first bad option.
/// </summary>
public sealed class TrainingOptions
{
    public int HiddenDim { get; set; } = TrainingDefaults.HiddenDim;
    public int NumLayers { get; set; } = TrainingDefaults.NumLayers;
    /// <summary>SwiGLU width; 0 means <c>4 * HiddenDim</c>.</summary>
    public int IntermediateDim { get; set; } = TrainingDefaults.IntermediateDim;
    public int ContextLength { get; set; } = TrainingDefaults.ContextLength;
    public int BatchSize { get; set; } = TrainingDefaults.BatchSize;
    /// <summary>Peak learning rate, reached after <see cref="WarmupSteps"/>.</summary>
    public double LearningRate { get; set; } = TrainingDefaults.LearningRate;
    public int WarmupSteps { get; set; } = TrainingDefaults.WarmupSteps;
    /// <summary>Learning rate at the last step of the cosine decay.</summary>
    public double MinLearningRate { get; set; } = TrainingDefaults.MinLearningRate;
    /// <summary>Steps between checkpoints (a checkpoint is also written at the end and when stopped).</summary>
    public int SaveInterval { get; set; } = TrainingDefaults.SaveInterval;
    /// <summary>Total steps of the schedule.</summary>
    public int MaxSteps { get; set; } = TrainingDefaults.MaxSteps;
    /// <summary>Which TTT layer the model uses (docs/model.md §3a / §3b); new models default to "delta".</summary>
    public TttType TttType { get; set; } = TrainingDefaults.TttType;
    /// <summary>
    /// TTT inner learning rate: η of "reconstruct", the scale of β for "delta". Null means the type's
    /// default (<see cref="TrainingDefaults.InnerLrFor"/>: 0.1 reconstruct, 1.0 delta).
    /// </summary>
    public float? InnerLr { get; set; }
    /// <summary>Reconstruct: the TTT mini-batch size. Delta: only the block size of the parallel training form.</summary>
    public int TttChunk { get; set; } = TrainingDefaults.TttChunk;
    /// <summary>Delta only: heads H.</summary>
    public int TttHeads { get; set; } = TrainingDefaults.TttHeads;
    /// <summary>Delta only: head width dh; 0 means <c>HiddenDim / TttHeads</c>.</summary>
    public int TttHeadDim { get; set; } = TrainingDefaults.TttHeadDim;
    /// <summary>Delta only: kernel of the short causal convolution; 0 = none.</summary>
    public int TttConv { get; set; } = TrainingDefaults.TttConv;
    public int Seed { get; set; } = TrainingDefaults.Seed;
    /// <summary><c>cpu</c> or <c>cuda</c> (<c>cuda:N</c>).</summary>
    public string Device { get; set; } = TrainingDefaults.Device;
    public double WeightDecay { get; set; } = TrainingDefaults.WeightDecay;
    /// <summary>Maximum global gradient L2 norm.</summary>
    public double GradientClip { get; set; } = TrainingDefaults.GradientClip;
    /// <summary>Steps between validation-loss evaluations (also evaluated at the end); 0 disables periodic evaluation.</summary>
    public int EvalInterval { get; set; } = TrainingDefaults.EvalInterval;
    /// <summary>Batches of <see cref="BatchSize"/> windows per validation-loss evaluation.</summary>
    public int EvalBatches { get; set; } = TrainingDefaults.EvalBatches;
    /// <summary>End this invocation cleanly (with a checkpoint) after this many steps; a later resume continues the schedule.</summary>
    public int? StopAfterSteps { get; set; }
    /// <summary>Where <c>checkpoint.safetensors</c> is written; null means no checkpoints.</summary>
    public string? CheckpointDirectory { get; set; }
    /// <summary>Continue from the checkpoint in <see cref="CheckpointDirectory"/>.</summary>
    public bool Resume { get; set; }
    /// <summary>libtorch intra-op threads; 0 means all cores.</summary>
    public int Threads { get; set; } = TrainingDefaults.Threads;
    /// <summary>Draw <c>loss.png</c> (written beside the checkpoint) with a log10 step axis instead of a linear one.</summary>
    public bool LossCurveLogX { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        static void Positive(int value, string name)
        {
            if (value <= 0) throw new ArgumentException($"{name} must be positive, got {value}", name);
        }
        static void PositiveFinite(double value, string name)
        {
            if (!double.IsFinite(value) || value <= 0) throw new ArgumentException($"{name} must be a finite number > 0, got {value}", name);
        }
        if (HiddenDim <= 0 || HiddenDim % 4 != 0)
            throw new ArgumentException($"{nameof(HiddenDim)} must be a positive multiple of 4, got {HiddenDim}", nameof(HiddenDim));
        Positive(NumLayers, nameof(NumLayers));
        if (IntermediateDim < 0) throw new ArgumentException($"{nameof(IntermediateDim)} must be >= 0 (0 = 4 * HiddenDim), got {IntermediateDim}", nameof(IntermediateDim));
        Positive(ContextLength, nameof(ContextLength));
        Positive(BatchSize, nameof(BatchSize));
        PositiveFinite(LearningRate, nameof(LearningRate));
        if (WarmupSteps < 0) throw new ArgumentException($"{nameof(WarmupSteps)} must be >= 0, got {WarmupSteps}", nameof(WarmupSteps));
        if (!double.IsFinite(MinLearningRate) || MinLearningRate < 0 || MinLearningRate > LearningRate)
            throw new ArgumentException($"{nameof(MinLearningRate)} must be between 0 and {nameof(LearningRate)} ({LearningRate}), got {MinLearningRate}", nameof(MinLearningRate));
        Positive(SaveInterval, nameof(SaveInterval));
        Positive(MaxSteps, nameof(MaxSteps));
        if (TttType is not (TttType.Reconstruct or TttType.Delta))
            throw new ArgumentException($"{nameof(TttType)} must be Reconstruct or Delta, got {(int)TttType}", nameof(TttType));
        if (InnerLr is { } innerLr && (!float.IsFinite(innerLr) || innerLr < 0))
            throw new ArgumentException($"{nameof(InnerLr)} must be a finite number >= 0, got {innerLr}", nameof(InnerLr));
        Positive(TttChunk, nameof(TttChunk));
        if (TttType == TttType.Delta)
        {
            Positive(TttHeads, nameof(TttHeads));
            if (TttHeadDim < 0) throw new ArgumentException($"{nameof(TttHeadDim)} must be >= 0 (0 = HiddenDim / TttHeads), got {TttHeadDim}", nameof(TttHeadDim));
            if (TttHeadDim == 0 && HiddenDim % TttHeads != 0)
                throw new ArgumentException($"{nameof(TttHeads)} ({TttHeads}) must divide {nameof(HiddenDim)} ({HiddenDim}) unless {nameof(TttHeadDim)} is given", nameof(TttHeads));
            if (TttConv < 0) throw new ArgumentException($"{nameof(TttConv)} must be >= 0 (0 = no convolution), got {TttConv}", nameof(TttConv));
        }
        if (!double.IsFinite(WeightDecay) || WeightDecay < 0) throw new ArgumentException($"{nameof(WeightDecay)} must be >= 0, got {WeightDecay}", nameof(WeightDecay));
        PositiveFinite(GradientClip, nameof(GradientClip));
        if (EvalInterval < 0) throw new ArgumentException($"{nameof(EvalInterval)} must be >= 0, got {EvalInterval}", nameof(EvalInterval));
        Positive(EvalBatches, nameof(EvalBatches));
        if (StopAfterSteps is { } stop) Positive(stop, nameof(StopAfterSteps));
        if (Threads < 0) throw new ArgumentException($"{nameof(Threads)} must be >= 0 (0 = all cores), got {Threads}", nameof(Threads));
        if (Resume && CheckpointDirectory is null)
            throw new ArgumentException($"{nameof(Resume)} needs a {nameof(CheckpointDirectory)} to resume from", nameof(CheckpointDirectory));
        TorchDevice.Parse(Device);
    }

    /// <summary>The inner learning rate this run uses: <see cref="InnerLr"/>, or the type's default.</summary>
    public float EffectiveInnerLr => InnerLr ?? TrainingDefaults.InnerLrFor(TttType);

    /// <summary>
    /// True where the inner update can diverge: reconstruct when <c>inner_lr * ttt_chunk >= 2</c>; delta when
    /// <c>inner_lr > 2</c> (with a unit key, <c>S (I − β k kᵀ)</c> shrinks S along k only while β &lt; 2).
    /// </summary>
    public bool InnerUpdateMayDiverge => TttType == TttType.Delta ? EffectiveInnerLr > 2 : EffectiveInnerLr * TttChunk >= 2;

    /// <summary>The model configuration these options train, for a tokenizer of <paramref name="vocabSize"/> ids.</summary>
    public BitLlamaConfig ToConfig(int vocabSize) => new BitLlamaConfig
    {
        VocabSize = vocabSize,
        HiddenDim = HiddenDim,
        NumLayers = NumLayers,
        InnerLr = EffectiveInnerLr,
        IntermediateDim = IntermediateDim,
        TttChunk = TttChunk,
        ContextLen = ContextLength,
        TttType = TttType,
        TttHeads = TttType == TttType.Delta ? TttHeads : TrainingDefaults.TttHeads,
        TttHeadDim = TttType == TttType.Delta ? TttHeadDim : 0,
        TttConv = TttType == TttType.Delta ? TttConv : TrainingDefaults.TttConv,
    }.Validate("training options");
}

/// <summary>One training step's report.</summary>
public sealed record TrainingProgress(
    int Step, int TotalSteps, double Loss, double LearningRate, double TokensPerSecond,
    TimeSpan Elapsed, TimeSpan Remaining, double? ValidationLoss)
{
    /// <summary>The n-gram baselines of this run's split (nats/token), measured once at the start; null without validation data.</summary>
    public BitTtt.Evaluation.BaselineLosses? Baselines { get; init; }
}
