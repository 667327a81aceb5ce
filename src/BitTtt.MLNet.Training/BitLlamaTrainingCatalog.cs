using BitTtt.MLNet;
using BitTtt.Training;

namespace Microsoft.ML;

/// <summary>
/// The BitLlama trainer's catalog extension, <c>ml.Transforms.BitLlama(...)</c>. In the <c>Microsoft.ML</c>
/// namespace like ML.NET's own extensions and Microsoft.ML.TorchSharp's, so <c>using Microsoft.ML;</c> finds it
/// once this package (BitTtt.MLNet.Training) is referenced.
/// </summary>
public static class BitLlamaTrainingCatalog
{
    /// <summary>Trains a BitLlama on the token column; the fitted transformer adds a <c>Completion</c> column.</summary>
    public static BitLlamaEstimator BitLlama(this TransformsCatalog catalog, BitLlamaOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new BitLlamaEstimator(catalog, options);
    }

    /// <summary>Trains a BitLlama with docs/model.md §5 defaults (<see cref="TrainingDefaults"/>) for everything not named here.</summary>
    public static BitLlamaEstimator BitLlama(this TransformsCatalog catalog, string tokensColumnName = BitLlamaDefaults.TokensColumnName,
        int hiddenDim = TrainingDefaults.HiddenDim, int numLayers = TrainingDefaults.NumLayers, int maxSteps = TrainingDefaults.MaxSteps) =>
        catalog.BitLlama(new BitLlamaOptions { TokensColumnName = tokensColumnName, HiddenDim = hiddenDim, NumLayers = numLayers, MaxSteps = maxSteps });
}
