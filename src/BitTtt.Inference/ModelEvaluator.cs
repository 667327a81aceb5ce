using System.Text;
using BitTtt.Evaluation;
using BitTtt.Inference.Engine;
using BitTtt.Tokenization;

namespace BitTtt.Inference;

/// <summary>How <see cref="ModelEvaluator"/> scores a text.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Text tokens scored at most (from the start of the text); 0 = all.</summary>
    public int MaxTokens { get; init; } = 100_000;
    /// <summary>Tokens of the copy-score passage; 0 = the model's context_len.</summary>
    public int CopyPassageTokens { get; init; }
}

/// <summary>
/// The in-context copy score: a passage fed twice in one sequence (one fresh session).
/// <see cref="Ratio"/> = loss on the second copy ÷ loss on the first; near 1 means the model does not use what
/// it has just read, near 0 that it recalls the passage from its TTT memory.
/// </summary>
public sealed record CopyScore(int PassageTokens, double FirstCopyLoss, double SecondCopyLoss)
{
    public double Ratio => SecondCopyLoss / FirstCopyLoss;
}

/// <summary>What <see cref="ModelEvaluator"/> measured on a text.</summary>
public sealed record EvaluationResult
{
    /// <summary>Text tokens read (the first is context only; <see cref="ScoredTokens"/> = this − 1).</summary>
    public required int TextTokens { get; init; }
    public int ScoredTokens => TextTokens - 1;
    /// <summary>UTF-8 bytes of the scored tokens.</summary>
    public required long ScoredBytes { get; init; }
    /// <summary>True when <see cref="EvaluationOptions.MaxTokens"/> cut the text.</summary>
    public required bool Truncated { get; init; }
    /// <summary>Mean −ln p(token | everything before it), nats/token.</summary>
    public required double NatsPerToken { get; init; }
    /// <summary>Total −log2 p over the scored tokens ÷ their UTF-8 bytes: comparable across tokenizers.</summary>
    public double BitsPerByte => NatsPerToken * ScoredTokens / Math.Log(2) / ScoredBytes;
    public double Perplexity => Math.Exp(NatsPerToken);
    public required CopyScore Copy { get; init; }
    /// <summary>The n-gram baselines counted on the training text, scoring the same tokens; null without one.</summary>
    public BaselineLosses? Baselines { get; init; }
    /// <summary>Training tokens the baselines counted.</summary>
    public long BaselineTrainTokens { get; init; }
}

/// <summary>
/// Scores a model on a text with the managed engine. The text is streamed continuously through one session
/// (TTT state is O(1) in the length, so nothing is cut into windows and every token sees everything before it,
/// as in generation); the first token is context only. Also measures the in-context copy score and, given a
/// training text, the n-gram baselines on the same tokens.
/// </summary>
public static class ModelEvaluator
{
    /// <summary>Fewest text tokens an evaluation accepts (a loss over fewer says little).</summary>
    public const int MinTokens = 16;

    /// <summary>Reads and checks <paramref name="path"/>, then <see cref="Evaluate"/>; the training text likewise.</summary>
    public static EvaluationResult EvaluateFile(Llama model, string path, string? trainPath = null, EvaluationOptions? options = null)
    {
        string text = ReadText(path, "evaluation text");
        string? train = trainPath is null ? null : ReadText(trainPath, "training text");
        return Evaluate(model, text, train, options, path);
    }

    /// <summary>Nats/token, bits/byte, perplexity and copy score on <paramref name="text"/>; baselines when <paramref name="trainText"/> is given.</summary>
    public static EvaluationResult Evaluate(Llama model, string text, string? trainText = null, EvaluationOptions? options = null, string source = "text")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(text);
        options ??= new EvaluationOptions();
        if (options.MaxTokens < 0) throw new ArgumentException($"MaxTokens must be >= 0 (0 = all), got {options.MaxTokens}", nameof(options));
        if (options.CopyPassageTokens < 0) throw new ArgumentException($"CopyPassageTokens must be >= 0 (0 = context_len), got {options.CopyPassageTokens}", nameof(options));
        var tokenizer = model.Tokenizer;
        int limit = options.MaxTokens == 0 ? int.MaxValue : Math.Max(options.MaxTokens, MinTokens);
        var (ids, truncated) = EncodeLong(tokenizer, text, limit);
        if (ids.Length < MinTokens)
            throw new ArgumentException($"{source}: {ids.Length} tokens, fewer than the {MinTokens} an evaluation needs (a longer text, please)");

        double[] losses = TokenLosses(model, ids);
        long bytes = 0;
        for (int t = 1; t < ids.Length; t++) bytes += tokenizer.GetTokenBytes(ids[t]).Length;
        int passage = Math.Min(options.CopyPassageTokens > 0 ? options.CopyPassageTokens : model.Config.ContextLen, ids.Length);
        BaselineLosses? baselines = null;
        long trainTokens = 0;
        if (trainText is not null)
        {
            var (train, _) = EncodeLong(tokenizer, trainText, 50_000_000);
            if (train.Length == 0) throw new ArgumentException("the training text encodes to no tokens");
            baselines = NGramBaselines.Measure(train, ids, tokenizer.VocabSize);
            trainTokens = train.Length;
        }
        return new EvaluationResult
        {
            TextTokens = ids.Length, ScoredBytes = Math.Max(bytes, 1), Truncated = truncated, NatsPerToken = losses.Average(),
            Copy = MeasureCopy(model, ids.AsSpan(0, passage)), Baselines = baselines, BaselineTrainTokens = trainTokens,
        };
    }

    /// <summary>
    /// −ln p(tokens[t + 1] | tokens[0..t]) for t = 0 … N − 2, streaming the tokens through one fresh session.
    /// </summary>
    public static double[] TokenLosses(Llama model, ReadOnlySpan<int> tokens)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (tokens.Length < 2) throw new ArgumentException($"need at least 2 tokens to score, got {tokens.Length}", nameof(tokens));
        var losses = new double[tokens.Length - 1];
        int[] ids = tokens.ToArray();
        var state = new SequenceState(model.Weights);
        Forward.RunEach(state, ids.AsSpan(0, ids.Length - 1), (t, logits) => losses[t] = NegativeLogSoftmax(logits, ids[t + 1]));
        return losses;
    }

    /// <summary>The copy score of <paramref name="passage"/> (at least 2 tokens), fed twice in one fresh session.</summary>
    public static CopyScore MeasureCopy(Llama model, ReadOnlySpan<int> passage)
    {
        if (passage.Length < 2) throw new ArgumentException($"the copy passage needs at least 2 tokens, got {passage.Length}", nameof(passage));
        int p = passage.Length;
        var twice = new int[2 * p];
        passage.CopyTo(twice);
        passage.CopyTo(twice.AsSpan(p));
        var losses = TokenLosses(model, twice);     // losses[t] scores twice[t + 1]
        // First copy: its tokens 1..P−1 (token 0 has no context). Second copy: all P tokens, each after the whole first copy.
        return new CopyScore(p, losses.AsSpan(0, p - 1).ToArray().Average(), losses.AsSpan(p - 1, p).ToArray().Average());
    }

    /// <summary>−ln softmax(logits)[target], in double.</summary>
    internal static double NegativeLogSoftmax(ReadOnlySpan<float> logits, int target)
    {
        float max = float.NegativeInfinity;
        foreach (float x in logits) max = MathF.Max(max, x);
        double sum = 0;
        foreach (float x in logits) sum += Math.Exp(x - max);
        return Math.Log(sum) - (logits[target] - max);
    }

    /// <summary>
    /// The text of <paramref name="path"/>, refusing what is not text: a missing or empty file, NUL bytes, or
    /// invalid UTF-8 (each named with the file and the byte offset). A UTF-8 byte-order mark is skipped.
    /// </summary>
    public static string ReadText(string path, string role = "text")
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: {role} file not found", path);
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length == 0) throw new ArgumentException($"{path}: the {role} file is empty");
        TextCheck.Check(bytes, path);   // the same rule as for training texts
        int start = bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        return Encoding.UTF8.GetString(bytes, start, bytes.Length - start);
    }

    /// <summary>Encodes in blocks of whole lines (~1 MB, like training), stopping once <paramref name="limit"/> tokens are reached.</summary>
    static (int[] Ids, bool Truncated) EncodeLong(BitLlamaTokenizer tokenizer, string text, int limit)
    {
        var ids = new List<int>();
        int start = 0;
        while (start < text.Length && ids.Count < limit)
        {
            int end = start + (1 << 20) >= text.Length ? text.Length : text.IndexOf('\n', start + (1 << 20)) is int nl and >= 0 ? nl + 1 : text.Length;
            ids.AddRange(tokenizer.Encode(text[start..end]));
            start = end;
        }
        bool truncated = ids.Count > limit || start < text.Length;
        return (ids.Count > limit ? [.. ids.GetRange(0, limit)] : [.. ids], truncated);
    }
}
