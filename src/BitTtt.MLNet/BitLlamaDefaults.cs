namespace BitTtt.MLNet;

/// <summary>
/// Default values shared by <see cref="BitLlamaOptions"/>, <see cref="TokenizeForBitLlamaOptions"/> and the
/// simple catalog overloads. Training values are SPEC §5 (the same as <c>BitTtt.Training.TrainingOptions</c>;
/// a test keeps the two equal).
/// </summary>
public static class BitLlamaDefaults
{
    public const string TextColumnName = "Text";
    public const string TokensColumnName = "Tokens";
    public const string CompletionColumnName = "Completion";

    public const int VocabSize = 4096;
    public const int MinFrequency = 2;

    public const int HiddenDim = 256;
    public const int NumLayers = 8;
    public const int IntermediateDim = 0; // 0 => 4 * HiddenDim
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
    public const int Threads = 0; // 0 => all cores

    /// <summary>Share of the rows held out for validation when no <see cref="BitLlamaOptions.ValidationSet"/> is given.</summary>
    public const double ValidationFraction = 0.05;
    /// <summary>Text put between consecutive rows when their tokens are joined into one training stream.</summary>
    public const string RowSeparator = "\n";

    public const int MaxNewTokens = 64;
    public const float Temperature = 0.8f;
    public const int TopK = 40;
    public const float TopP = 0.95f;
    public const float RepetitionPenalty = 1.1f;
}
