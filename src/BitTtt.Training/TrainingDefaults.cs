namespace BitTtt.Training;

/// <summary>
/// The training defaults of SPEC §5, in one place: <see cref="TrainingOptions"/>, the <c>bit-llama train</c>
/// flags and the ML.NET layer's <c>BitLlamaDefaults</c> all read them from here.
/// </summary>
public static class TrainingDefaults
{
    public const int HiddenDim = 256;
    public const int NumLayers = 8;
    /// <summary>0 means <c>4 * HiddenDim</c>.</summary>
    public const int IntermediateDim = 0;
    public const int ContextLength = 128;
    public const int BatchSize = 16;
    public const double LearningRate = 3e-4;
    public const int WarmupSteps = 100;
    public const double MinLearningRate = 1e-5;
    public const int SaveInterval = 500;
    public const int MaxSteps = 1000;
    public const float InnerLr = 0.1f;
    public const int TttChunk = 16;
    public const int Seed = 42;
    public const string Device = "cpu";
    public const double WeightDecay = 0.1;
    public const double GradientClip = 1.0;
    public const int EvalInterval = 100;
    public const int EvalBatches = 8;
    /// <summary>0 means all cores.</summary>
    public const int Threads = 0;
    /// <summary>Share of the corpus held out for validation (the end of a text file).</summary>
    public const double ValidationFraction = 0.05;
}
