using BitTtt.Training;

namespace BitTtt.Tests.Shared;

/// <summary>The tiny configuration of the tests that train with <see cref="BitLlamaTrainer"/> directly (TorchSharp, one thread).</summary>
internal static class TinyTrainer
{
    /// <summary>16 wide, 1 layer, context 16; delta takes its default inner_lr (1.0), reconstruct 0.3.</summary>
    public static TrainingOptions Options(string? checkpoints, int steps = 20, TttType type = TttType.Delta) => new()
    {
        HiddenDim = 16, NumLayers = 1, IntermediateDim = 32, ContextLen = 16, BatchSize = 4, LearningRate = 1e-2,
        WarmupSteps = 3, MinLearningRate = 1e-3, MaxSteps = steps, SaveInterval = 1000, EvalInterval = 0, EvalBatches = 2,
        TttType = type, TttChunk = 4, InnerLr = type == TttType.Reconstruct ? 0.3f : null, Seed = 7, Threads = 1, CheckpointDirectory = checkpoints,
    };
}
