using BitTtt.Training;

namespace BitTtt.MLNet;

/// <summary>
/// Default values shared by <see cref="BitLlamaOptions"/>, <see cref="TokenizeForBitLlamaOptions"/> and the
/// simple catalog overloads. Training values are docs/model.md §5, taken from <see cref="TrainingDefaults"/>.
/// </summary>
public static class BitLlamaDefaults
{
    public const string TextColumnName = "Text";
    public const string TokensColumnName = "Tokens";
    public const string CompletionColumnName = "Completion";

    public const int VocabSize = 4096;
    public const int MinFrequency = 2;

    public const int HiddenDim = TrainingDefaults.HiddenDim;
    public const int NumLayers = TrainingDefaults.NumLayers;
    public const int IntermediateDim = TrainingDefaults.IntermediateDim;
    public const int ContextLength = TrainingDefaults.ContextLength;
    public const int BatchSize = TrainingDefaults.BatchSize;
    public const double LearningRate = TrainingDefaults.LearningRate;
    public const int WarmupSteps = TrainingDefaults.WarmupSteps;
    public const double MinLearningRate = TrainingDefaults.MinLearningRate;
    public const int SaveInterval = TrainingDefaults.SaveInterval;
    public const int MaxSteps = TrainingDefaults.MaxSteps;
    /// <summary>New models use the delta-rule TTT layer (docs/model.md §3b).</summary>
    public const TttType TttType = TrainingDefaults.TttType;
    /// <summary>Inner learning rate of a "delta" layer (the scale of β); <see cref="BitLlamaOptions.InnerLr"/> null means this for delta.</summary>
    public const float DeltaInnerLr = TrainingDefaults.DeltaInnerLr;
    /// <summary>Inner learning rate of a "reconstruct" layer (its step η); <see cref="BitLlamaOptions.InnerLr"/> null means this for reconstruct.</summary>
    public const float ReconstructInnerLr = TrainingDefaults.ReconstructInnerLr;
    public const int TttChunk = TrainingDefaults.TttChunk;
    public const int TttHeads = TrainingDefaults.TttHeads;
    public const int TttHeadDim = TrainingDefaults.TttHeadDim;
    public const int TttConv = TrainingDefaults.TttConv;
    public const int Seed = TrainingDefaults.Seed;
    public const string Device = TrainingDefaults.Device;
    public const double WeightDecay = TrainingDefaults.WeightDecay;
    public const double GradientClip = TrainingDefaults.GradientClip;
    public const int EvalInterval = TrainingDefaults.EvalInterval;
    public const int EvalBatches = TrainingDefaults.EvalBatches;
    public const int Threads = TrainingDefaults.Threads;

    /// <summary>Share of the rows held out for validation when no <see cref="BitLlamaOptions.ValidationSet"/> is given.</summary>
    public const double ValidationFraction = TrainingDefaults.ValidationFraction;
    /// <summary>Text put between consecutive rows when their tokens are joined into one training stream.</summary>
    public const string RowSeparator = "\n";

    public const int MaxNewTokens = 64;
    public const float Temperature = 0.8f;
    public const int TopK = 40;
    public const float TopP = 0.95f;
    public const float RepetitionPenalty = 1.1f;
}
