using BitTtt.MLNet;
using Microsoft.ML;

namespace BitTtt.Tests.Shared;

/// <summary>The tiny configuration the tests that train through ML.NET use, on <see cref="TinyCorpus"/>.</summary>
internal static class TinyPipeline
{
    public static BitLlamaOptions Options(int maxSteps = 16) => new()
    {
        TokensColumnName = "Tokens",
        HiddenDim = 16,
        NumLayers = 1,
        ContextLen = 32,
        BatchSize = 4,
        MaxSteps = maxSteps,
        WarmupSteps = 2,
        LearningRate = 3e-3,
        EvalInterval = 8,
        EvalBatches = 2,
        TttChunk = 4,
        Threads = 1,
        Generation = new() { MaxTokens = 12 },
        Seed = 7,
        ValidationFraction = 0.25,
    };

    /// <summary>The README pipeline on the tiny configuration.</summary>
    public static IEstimator<ITransformer> Create(MLContext ml, BitLlamaOptions? options = null) =>
        ml.Transforms.TokenizeForBitLlama(outputColumnName: "Tokens", inputColumnName: "Text", vocabSize: TinyCorpus.VocabSize)
            .Append(ml.Transforms.BitLlama(options ?? Options()));
}
