namespace BitTtt.Training;

/// <summary>
/// Options of a training run; defaults from docs/model.md §5 (<see cref="TrainingDefaults"/>). This is the one
/// definition of the training options: the ML.NET layer's <c>BitLlamaOptions</c> derives from it and
/// <c>bit-llama train</c> binds one flag per property from its flag table. <see cref="Validate"/> throws an
/// <see cref="ArgumentOutOfRangeException"/> naming the first bad option by its property name, marked so a front
/// end can print its own spelling (<see cref="OptionMessage"/>).
/// </summary>
public class TrainingOptions
{
    public int HiddenDim { get; set; } = TrainingDefaults.HiddenDim;
    public int NumLayers { get; set; } = TrainingDefaults.NumLayers;
    /// <summary>SwiGLU width; 0 means <c>4 * HiddenDim</c>.</summary>
    public int IntermediateDim { get; set; } = TrainingDefaults.IntermediateDim;
    /// <summary>Tokens per training window (<c>context_len</c>).</summary>
    public int ContextLen { get; set; } = TrainingDefaults.ContextLen;
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
    /// <summary>
    /// Seeds weight initialisation and batch order. Null = not set: <see cref="TrainingDefaults.Seed"/> for the
    /// trainer and the CLI; in ML.NET, a seed drawn from the <c>MLContext</c>'s random (so <c>new MLContext(seed: 1)</c> reproduces a Fit).
    /// </summary>
    public int? Seed { get; set; }
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
    /// <summary>
    /// A wall-clock budget for the run: <see cref="TimeBudgetPlanner"/> picks <see cref="HiddenDim"/>, <see cref="NumLayers"/>,
    /// <see cref="BatchSize"/>, <see cref="LearningRate"/>, <see cref="WarmupSteps"/> and <see cref="MaxSteps"/> from the
    /// number of training tokens and a step time measured on this machine (and the tokenizer's vocabulary from the
    /// text's size where the run trains its tokenizer). Null = the options as set.
    /// </summary>
    public TimeSpan? TimeBudget { get; set; }
    /// <summary>
    /// Fine-tune: start from this model's weights (a <c>.bitt</c> file, a model directory, or a training checkpoint
    /// with its <c>tokenizer.json</c> beside it; <see cref="PretrainedModel"/>). The model's shape comes from it, so
    /// <see cref="HiddenDim"/>, <see cref="NumLayers"/>, <see cref="IntermediateDim"/>, the TTT options and
    /// <see cref="InnerLr"/> are not used; <see cref="ContextLen"/> and the schedule are this run's own (the steps count
    /// from 0, the optimizer starts afresh). A tokenizer with more ids than the model (new special tokens) grows its
    /// embedding and LM head (docs/model.md §6.5). Null: a new model.
    /// </summary>
    public string? InitialModel { get; set; }
    /// <summary>
    /// On conversations, count the loss on every token instead of only the assistant replies and their end of turn
    /// (docs/model.md §6.3). A text is always trained on every token.
    /// </summary>
    public bool TrainOnAllTokens { get; set; }

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> (an <see cref="ArgumentException"/>) naming the first invalid option.
    /// The message names options by these property names; a front end re-spells them with <see cref="OptionMessage.Format(Exception, Func{string, string})"/>.
    /// </summary>
    public virtual void Validate()
    {
        Check(HiddenDim > 0 && HiddenDim % 4 == 0, nameof(HiddenDim), $"must be a positive multiple of 4, got {HiddenDim}");
        CheckAtMost(HiddenDim, BitLlamaConfig.MaxDimension, nameof(HiddenDim));
        Check(NumLayers > 0, nameof(NumLayers), $"must be positive, got {NumLayers}");
        CheckAtMost(NumLayers, BitLlamaConfig.MaxLayers, nameof(NumLayers));
        Check(IntermediateDim >= 0, nameof(IntermediateDim), $"must be >= 0 (0 = 4 * {Opt(nameof(HiddenDim))}), got {IntermediateDim}");
        CheckAtMost(IntermediateDim, BitLlamaConfig.MaxDimension, nameof(IntermediateDim));
        Check(ContextLen > 0, nameof(ContextLen), $"must be positive, got {ContextLen}");
        CheckAtMost(ContextLen, BitLlamaConfig.MaxContextLen, nameof(ContextLen));
        Check(BatchSize > 0, nameof(BatchSize), $"must be positive, got {BatchSize}");
        Check(double.IsFinite(LearningRate) && LearningRate > 0, nameof(LearningRate), $"must be a finite number > 0, got {LearningRate}");
        Check(WarmupSteps >= 0, nameof(WarmupSteps), $"must be >= 0, got {WarmupSteps}");
        Check(double.IsFinite(MinLearningRate) && MinLearningRate >= 0 && MinLearningRate <= LearningRate, nameof(MinLearningRate),
            $"must be between 0 and {Opt(nameof(LearningRate))} ({LearningRate}), got {MinLearningRate}");
        Check(SaveInterval > 0, nameof(SaveInterval), $"must be positive, got {SaveInterval}");
        Check(MaxSteps > 0, nameof(MaxSteps), $"must be positive, got {MaxSteps}");
        Check(TttType is TttType.Reconstruct or TttType.Delta, nameof(TttType), $"must be Reconstruct or Delta, got {(int)TttType}");
        Check(InnerLr is not { } innerLr || float.IsFinite(innerLr) && innerLr >= 0, nameof(InnerLr), $"must be a finite number >= 0, got {InnerLr}");
        Check(TttChunk > 0, nameof(TttChunk), $"must be positive, got {TttChunk}");
        CheckAtMost(TttChunk, BitLlamaConfig.MaxContextLen, nameof(TttChunk));
        if (TttType == TttType.Delta)
        {
            Check(TttHeads > 0, nameof(TttHeads), $"must be positive, got {TttHeads}");
            CheckAtMost(TttHeads, BitLlamaConfig.MaxDimension, nameof(TttHeads));
            Check(TttHeadDim >= 0, nameof(TttHeadDim), $"must be >= 0 (0 = {Opt(nameof(HiddenDim))} / {Opt(nameof(TttHeads))}), got {TttHeadDim}");
            CheckAtMost(TttHeadDim, BitLlamaConfig.MaxDimension, nameof(TttHeadDim));
            Check(TttHeadDim > 0 || HiddenDim % TttHeads == 0, nameof(TttHeads),
                $"({TttHeads}) must divide {Opt(nameof(HiddenDim))} ({HiddenDim}) unless {Opt(nameof(TttHeadDim))} is given");
            Check(TttConv >= 0, nameof(TttConv), $"must be >= 0 (0 = no convolution), got {TttConv}");
            CheckAtMost(TttConv, BitLlamaConfig.MaxTttConv, nameof(TttConv));
        }
        Check(IsDeviceName(Device), nameof(Device), $"must be cpu, cuda or cuda:N, got '{Device}'");
        Check(double.IsFinite(WeightDecay) && WeightDecay >= 0, nameof(WeightDecay), $"must be a finite number >= 0, got {WeightDecay}");
        Check(double.IsFinite(GradientClip) && GradientClip > 0, nameof(GradientClip), $"must be a finite number > 0, got {GradientClip}");
        Check(EvalInterval >= 0, nameof(EvalInterval), $"must be >= 0 (0 = only at the end), got {EvalInterval}");
        Check(EvalBatches > 0, nameof(EvalBatches), $"must be positive, got {EvalBatches}");
        Check(StopAfterSteps is null or > 0, nameof(StopAfterSteps), $"must be positive, got {StopAfterSteps}");
        Check(Threads >= 0, nameof(Threads), $"must be >= 0 (0 = all cores), got {Threads}");
        Check(!Resume || CheckpointDirectory is not null, nameof(Resume), $"needs {Opt(nameof(CheckpointDirectory))} (the checkpoint to resume from)");
        Check(TimeBudget is null || TimeBudget > TimeSpan.Zero, nameof(TimeBudget), $"must be positive, got {TimeBudget}");
        Check(TimeBudget is null || InitialModel is null, nameof(TimeBudget), $"sizes a new model; a fine-tune takes its shape from {Opt(nameof(InitialModel))}, so give its steps instead");
        Check(TimeBudget is null || !Resume, nameof(TimeBudget), $"plans a new run; to continue one, resume with the shape and steps its plan chose (printed at its start) instead of {Opt(nameof(TimeBudget))}");
        Check(InitialModel is null || InitialModel.Trim().Length > 0, nameof(InitialModel), $"must name a .bitt file, a model directory or a checkpoint, got '{InitialModel}'");
    }

    // The bounds of docs/model.md §1 that BitLlamaConfig enforces, checked here too so a run fails before any work, naming the option.
    static void CheckAtMost(int value, int maximum, string option) =>
        Check(value <= maximum, option, $"must be at most {maximum}, got {value}");

    /// <summary>
    /// Throws <c>ArgumentOutOfRangeException(option, "option message.")</c> unless <paramref name="ok"/>; the option
    /// names in the message stay marked (<see cref="OptionMessage"/>), so a front end can spell them its way.
    /// </summary>
    protected static void Check(bool ok, string option, FormattableString message)
    {
        if (!ok) throw OptionMessage.OutOfRange(option, $"{Opt(option)} {message}.");
    }

    /// <summary>An option's name inside a message (<see cref="OptionMessage.Name"/>).</summary>
    protected static OptionRef Opt(string option) => OptionMessage.Name(option);

    // The name only (no libtorch is loaded here): a typo such as "gpu" fails before anything trains.
    static bool IsDeviceName(string? device)
    {
        if (string.IsNullOrWhiteSpace(device)) return false;
        try { TorchDevice.Parse(device); return true; }
        catch (ArgumentException) { return false; }
    }

    /// <summary>A shallow copy (of the derived type too), for trying variations of a run's settings.</summary>
    internal TrainingOptions Copy() => (TrainingOptions)MemberwiseClone();

    /// <summary>The seed this run uses: <see cref="Seed"/>, or <see cref="TrainingDefaults.Seed"/>.</summary>
    public int EffectiveSeed => Seed ?? TrainingDefaults.Seed;

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
        ContextLen = ContextLen,
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
