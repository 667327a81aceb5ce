using BitTtt.Inference;

namespace BitTtt.Tests.Shared;

internal static partial class TinyModels
{
    /// <summary>The ML.NET tests' random model: 16 wide, 1 layer, for the default tokenizer, storing sampling seed 1
    /// as every model trained here stores its training seed, so its completions are reproducible.</summary>
    public static BitLlamaConfig Seeded { get; } =
        new SamplingOptions { Seed = 1 }.StoreIn(Config(vocab: RandomModel.DefaultVocabSize, dim: 16, layers: 1));

    /// <summary>Writes <see cref="Seeded"/> (random weights, seed 1) to a new .bitt file under <see cref="TinyCorpus"/>.</summary>
    public static string WriteSeeded() => WriteBitt(TinyCorpus.NewPath("model.bitt"), Seeded);
}
