namespace BitTtt.Training;

/// <summary>
/// The training defaults of docs/model.md §5, in one place: <c>TrainingOptions</c> (BitTtt.Training), the <c>bit-llama train</c>
/// flags and the ML.NET layer's <c>BitLlamaDefaults</c> all read them from here.
/// </summary>
public static class TrainingDefaults
{
    public const int HiddenDim = 256;
    public const int NumLayers = 8;
    /// <summary>0 means <c>4 * HiddenDim</c>.</summary>
    public const int IntermediateDim = 0;
    /// <summary>Tokens per training window (<c>context_len</c>).</summary>
    public const int ContextLen = 128;
    public const int BatchSize = 16;
    public const double LearningRate = 3e-4;
    public const int WarmupSteps = 100;
    public const double MinLearningRate = 1e-5;
    public const int SaveInterval = 500;
    public const int MaxSteps = 1000;
    /// <summary>New models use the delta-rule TTT layer (docs/model.md §3b); "reconstruct" (§3a) is the seed's.</summary>
    public const TttType TttType = BitTtt.TttType.Delta;
    /// <summary>Inner learning rate of a "reconstruct" layer: the step η of its inner update (docs/model.md §3a).</summary>
    public const float ReconstructInnerLr = 0.1f;
    /// <summary>Inner learning rate of a "delta" layer: the scale of the learned per-token rate β ∈ (0, inner_lr) (docs/model.md §3b).</summary>
    public const float DeltaInnerLr = 1.0f;
    /// <summary>Delta only: heads H.</summary>
    public const int TttHeads = 4;
    /// <summary>Delta only: head width dh; 0 means <c>HiddenDim / TttHeads</c>.</summary>
    public const int TttHeadDim = 0;
    /// <summary>Delta only: kernel of the short causal convolution (0 = none).</summary>
    public const int TttConv = 4;
    /// <summary>Reconstruct: the TTT mini-batch size. Delta: only the block size of the chunk-parallel training form.</summary>
    public const int TttChunk = 16;
    public const int Seed = 42;
    public const string Device = "cpu";
    public const double WeightDecay = 0.1;
    public const double GradientClip = 1.0;
    public const int EvalInterval = 100;
    public const int EvalBatches = 8;
    /// <summary>0 means all cores.</summary>
    public const int Threads = 0;
    /// <summary>The inner learning rate a run uses when none is given: it means a different thing per layer type.</summary>
    public static float InnerLrFor(TttType type) => type == BitTtt.TttType.Delta ? DeltaInnerLr : ReconstructInnerLr;

    /// <summary>Share of the corpus held out for validation (the end of a text file).</summary>
    public const double ValidationFraction = 0.05;
}
