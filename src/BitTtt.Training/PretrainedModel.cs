using BitTtt.Formats;
using BitTtt.Tokenization;

namespace BitTtt.Training;

// Shape key (docs/model.md): V = vocab, D = hidden.

/// <summary>
/// The model a fine-tuning run starts from (<see cref="TrainingOptions.InitialModel"/>): its config, tokenizer and
/// weights, read from a <c>.bitt</c> file, a model directory, or a training checkpoint (whose tokenizer is the
/// <c>tokenizer.json</c> beside it, as <c>bit-llama train</c> writes it). <see cref="Grow"/> gives the weights for a
/// tokenizer with more ids (new special tokens), initialised as docs/model.md §6.5 says.
/// </summary>
public sealed class PretrainedModel
{
    PretrainedModel(string source, BitLlamaConfig config, BitLlamaTokenizer tokenizer, IReadOnlyList<SafeTensorData> weights)
    {
        Source = source;
        Config = config;
        Tokenizer = tokenizer;
        Weights = weights;
    }

    /// <summary>The path it was read from.</summary>
    public string Source { get; }
    public BitLlamaConfig Config { get; }
    public BitLlamaTokenizer Tokenizer { get; }
    /// <summary>Every weight under its docs/model.md §2 name, F32.</summary>
    public IReadOnlyList<SafeTensorData> Weights { get; }

    /// <summary>
    /// Reads a <c>.bitt</c> file, a model directory, or a <c>checkpoint.safetensors</c> (with <c>tokenizer.json</c>
    /// in its directory). Errors name the path and what is missing.
    /// </summary>
    public static PretrainedModel Load(string path)
    {
        var files = TrainingData.InitialModelFiles(path);   // the one rule for where the config and tokenizer are
        var tokenizer = BitLlamaTokenizer.FromJson(files.TokenizerJson, files.TokenizerSource);
        if (File.Exists(path) && !ModelPackage.IsBitt(path))
            return new PretrainedModel(path, files.Config, tokenizer, TrainingCheckpoint.ReadModel(path).Weights);
        using var package = ModelPackage.Open(path);
        var weights = BitLlamaWeights.Expected(package.Config)
            .Select(e => new SafeTensorData(e.Name, e.Shape, package.Weights.ReadFloat32(e.Name, e.Shape)))
            .ToArray();
        return new PretrainedModel(path, package.Config, tokenizer, weights);
    }

    /// <summary>
    /// The config of a run that starts from this model: its shape and fields (its chat template and other stored fields
    /// included), with <paramref name="contextLen"/> (a fine-tuning run's own) and room for <paramref name="vocabSize"/> ids.
    /// </summary>
    public BitLlamaConfig ConfigFor(int vocabSize, int contextLen)
    {
        if (vocabSize < Tokenizer.VocabSize)
            throw new ArgumentException($"{Source}: the tokenizer has {vocabSize} ids, fewer than the model's own {Tokenizer.VocabSize}; a fine-tuning tokenizer extends the model's", nameof(vocabSize));
        return (Config with { VocabSize = Math.Max(vocabSize, Config.VocabSize), ContextLen = contextLen }).Validate(Source);
    }

    /// <summary>
    /// The weights for <paramref name="config"/> (from <see cref="ConfigFor"/>): these weights, with <c>embed</c> and
    /// <c>lm_head</c> grown to its vocab_size when it has more rows (docs/model.md §6.5): a new embedding row is the
    /// mean of the existing rows plus each dimension's standard deviation times a standard normal draw from
    /// <paramref name="seed"/>, a new LM-head row the mean of the existing rows.
    /// </summary>
    public IReadOnlyList<SafeTensorData> Grow(BitLlamaConfig config, int seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.VocabSize == Config.VocabSize) return Weights;
        var random = new NormalDraws(seed);
        return Weights.Select(w => w.Name switch
        {
            BitLlamaWeights.Embed => GrowRows(w, config.VocabSize, random),
            BitLlamaWeights.LmHead => GrowRows(w, config.VocabSize, null),
            _ => w,
        }).ToArray();
    }

    // (V, D) -> (V', D): rows V..V'-1 = mean + std ⊙ z (z null: the mean alone).
    static SafeTensorData GrowRows(SafeTensorData weight, int rows, NormalDraws? random)
    {
        int v = (int)weight.Shape[0], d = (int)weight.Shape[1];
        var data = weight.Data.Span;
        var mean = new double[d];
        var square = new double[d];
        for (int r = 0; r < v; r++)
            for (int c = 0; c < d; c++)
            {
                double x = data[r * d + c];
                mean[c] += x;
                square[c] += x * x;
            }
        var grown = new float[(long)rows * d];
        data.CopyTo(grown);
        for (int c = 0; c < d; c++)
        {
            mean[c] /= v;
            square[c] = Math.Sqrt(Math.Max(square[c] / v - mean[c] * mean[c], 0));   // population standard deviation
        }
        for (int r = v; r < rows; r++)
            for (int c = 0; c < d; c++)
                grown[(long)r * d + c] = (float)(mean[c] + (random is null ? 0 : square[c] * random.Next()));
        return new SafeTensorData(weight.Name, [rows, d], grown);
    }

    /// <summary>Standard normal draws (Box–Muller over SplitMix64): the same seed gives the same rows on every platform.</summary>
    sealed class NormalDraws(int seed)
    {
        ulong _state = 0x6E0F_0000_0000_0000UL ^ (ulong)(uint)seed;
        double? _spare;

        ulong NextBits()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        double Uniform() => ((NextBits() >> 11) + 0.5) / (1UL << 53);   // in (0, 1)

        public double Next()
        {
            if (_spare is double spare)
            {
                _spare = null;
                return spare;
            }
            double radius = Math.Sqrt(-2 * Math.Log(Uniform())), angle = 2 * Math.PI * Uniform();
            _spare = radius * Math.Sin(angle);
            return radius * Math.Cos(angle);
        }
    }
}
