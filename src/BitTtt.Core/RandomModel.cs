using BitTtt.Formats;
using BitTtt.Tokenization;

namespace BitTtt;

/// <summary>
/// A BitLlama with random weights and a byte-level BPE tokenizer, nothing trained: what <c>bit-llama bench</c>,
/// the serving benchmark and the tests load where speed or plumbing is measured and what the model says does not
/// matter. Deterministic: the same config, seed and tokenizer give the same tensors and the same file bytes.
/// No TorchSharp.
/// </summary>
/// <remarks>
/// Weights, by docs/model.md §2 name: the embedding uniform ±1 (the scale of the trainer's N(0, 1)); every other
/// matrix uniform ±1/√fan_in, as BitLinear and nn.Linear start; norm weights 1 ± 0.2 rather than exactly 1, so a
/// forward pass that skipped one would show in a comparison; the delta layer's β bias uniform ±1.
/// </remarks>
public sealed class RandomModel
{
    RandomModel(BitLlamaConfig config, string tokenizerJson, IReadOnlyList<SafeTensorData> tensors) =>
        (Config, TokenizerJson, Tensors) = (config, tokenizerJson, tensors);

    public BitLlamaConfig Config { get; }

    /// <summary>Hugging Face <c>tokenizer.json</c> text.</summary>
    public string TokenizerJson { get; }

    /// <summary>Every tensor the config calls for, in <see cref="BitLlamaWeights.Expected"/> order.</summary>
    public IReadOnlyList<SafeTensorData> Tensors { get; }

    /// <summary>What the default tokenizer learns from: English words plus accented Latin, CJK and an emoji,
    /// so its tokens cover UTF-8 sequences of one to four bytes.</summary>
    public static IReadOnlyList<string> DefaultTexts { get; } =
        ["the whale swam in the sea. the sea was calm and the whale was white.", "héllo wörld — 你好 🎉 naïve café"];

    static readonly Lazy<(string Json, int VocabSize)> s_defaultTokenizer = new(() =>
    {
        string json = TrainTokenizer(DefaultTexts, vocabSize: 300);
        return (json, BitLlamaTokenizer.FromJson(json).VocabSize);
    });

    /// <summary>The tokenizer <see cref="Create"/> uses when given none: <see cref="DefaultTexts"/>, at most 300 ids
    /// (trained once per process).</summary>
    public static string DefaultTokenizerJson => s_defaultTokenizer.Value.Json;

    /// <summary>The number of ids of <see cref="DefaultTokenizerJson"/>: the <c>vocab_size</c> a model for it needs.</summary>
    public static int DefaultVocabSize => s_defaultTokenizer.Value.VocabSize;

    /// <summary>A byte-level BPE tokenizer of at most <paramref name="vocabSize"/> ids learned from
    /// <paramref name="texts"/>; pairs seen once are merged too, so a sentence or two fill a small vocabulary. A random
    /// model has no chat template, so its tokenizer reserves the chat tokens (<see cref="BpeTrainerOptions.ChatTokens"/>)
    /// only when <paramref name="chatTokens"/> asks for them, e.g. to store a template with it.</summary>
    public static string TrainTokenizer(IEnumerable<string> texts, int vocabSize, bool chatTokens = false) =>
        BpeTrainer.TrainFromTexts(texts, new BpeTrainerOptions { VocabSize = vocabSize, MinFrequency = 1, ChatTokens = chatTokens });

    /// <summary>Random weights for <paramref name="config"/> with <paramref name="tokenizerJson"/> (default
    /// <see cref="DefaultTokenizerJson"/>). Throws <see cref="BitLlamaFormatException"/> for an invalid config and
    /// <see cref="ArgumentException"/> when <c>vocab_size</c> is smaller than the tokenizer's ids.</summary>
    public static RandomModel Create(BitLlamaConfig config, int seed = 1, string? tokenizerJson = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        tokenizerJson ??= DefaultTokenizerJson;
        int ids = ReferenceEquals(tokenizerJson, DefaultTokenizerJson) ? DefaultVocabSize : BitLlamaTokenizer.FromJson(tokenizerJson).VocabSize;
        if (config.VocabSize < ids)
            throw new ArgumentException($"vocab_size {config.VocabSize} is smaller than the tokenizer's {ids} ids", nameof(config));
        return new RandomModel(config, tokenizerJson, Weights(config, seed));
    }

    /// <summary>The random tensors alone (see the remarks of <see cref="RandomModel"/>), for a config with or
    /// without a tokenizer; a new list each call, the caller's to change.</summary>
    public static List<SafeTensorData> Weights(BitLlamaConfig config, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(config);
        var rng = new Random(seed);
        var tensors = new List<SafeTensorData>();
        foreach (var (name, shape, _) in BitLlamaWeights.Expected(config))
        {
            var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
            var (offset, scale) = IsNorm(name) ? (1.0, 0.2)
                : shape.Length == 1 || name == BitLlamaWeights.Embed ? (0.0, 1.0)
                : (0.0, 1 / Math.Sqrt(shape[1]));
            for (long i = 0; i < data.LongLength; i++) data[i] = (float)(offset + scale * (rng.NextDouble() * 2 - 1));
            tensors.Add(new SafeTensorData(name, shape, data));
        }
        return tensors;
    }

    static bool IsNorm(string name) =>
        name == BitLlamaWeights.NormF
        || name.EndsWith("." + BitLlamaWeights.Norm1, StringComparison.Ordinal)
        || name.EndsWith("." + BitLlamaWeights.Norm2, StringComparison.Ordinal);

    /// <summary>Writes the model as one .bitt file (atomically) and returns <paramref name="path"/>.</summary>
    public string WriteBitt(string path)
    {
        ModelPackage.WriteBitt(path, Config, TokenizerJson, Tensors);
        return path;
    }

    /// <summary>Writes config.json, tokenizer.json and model.safetensors into <paramref name="directory"/> and returns it.</summary>
    public string WriteDirectory(string directory)
    {
        ModelPackage.WriteDirectory(directory, Config, TokenizerJson, Tensors);
        return directory;
    }
}
