using BitTtt.Formats;
using BitTtt.Tokenization;
using Microsoft.ML;

namespace BitTtt.MLNet;

/// <summary>Reads a <c>.bitt</c> file or model directory (docs/model.md §4) into a <see cref="BitLlamaTransformer"/>.</summary>
internal static class BittFile
{
    public static BitLlamaTransformer Load(TransformsCatalog transforms, string path, string? displayName = null)
    {
        string source = displayName ?? path;
        using var package = ModelPackage.Open(path);
        string tokenizerJson = package.TokenizerJson
            ?? throw BitLlamaFormatException.In(source, "the model has no tokenizer (a .bitt header 'tokenizer' or tokenizer.json is needed to turn prompts into tokens)");
        var tokenizer = BitLlamaTokenizer.FromJson(tokenizerJson, displayName ?? package.TokenizerSource);   // DIR/tokenizer.json, not DIR
        var settings = GenerationSettings.FromConfig(package.Config, source);
        var weights = package.Weights.Tensors
            .Select(t => new SafeTensorData(t.Name, t.Shape, package.Weights.ReadFloat32(t.Name)))
            .ToList();
        return new BitLlamaTransformer(transforms, package.Config, tokenizer, weights, settings, training: null);
    }
}
