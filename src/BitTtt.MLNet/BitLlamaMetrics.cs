using System.Globalization;
using System.Text;
using BitTtt.Evaluation;
using BitTtt.Inference;
using Microsoft.ML;

namespace BitTtt.MLNet;

/// <summary>
/// The evaluation of a BitLlama on a text column (<c>mlContext.Model.EvaluateBitLlama</c>): the figures
/// <c>bit-llama eval</c> prints for the same text, computed by the same code (<see cref="ModelEvaluator"/>, docs/evaluation.md).
/// </summary>
public sealed class BitLlamaMetrics
{
    BitLlamaMetrics(EvaluationResult result, long rows, string column)
    {
        Result = result;
        Rows = rows;
        ColumnName = column;
    }

    /// <summary>Everything <see cref="ModelEvaluator"/> measured.</summary>
    public EvaluationResult Result { get; }
    /// <summary>Rows read from the column.</summary>
    public long Rows { get; }
    /// <summary>The column evaluated.</summary>
    public string ColumnName { get; }

    /// <summary>Mean −ln p(token | everything before it), nats/token (the first token is context only).</summary>
    public double NatsPerToken => Result.NatsPerToken;
    /// <summary>exp(<see cref="NatsPerToken"/>).</summary>
    public double Perplexity => Result.Perplexity;
    /// <summary>Total −log₂ p over the scored tokens ÷ their UTF-8 bytes: comparable across tokenizers.</summary>
    public double BitsPerByte => Result.BitsPerByte;
    /// <summary>Tokens read; <see cref="ScoredTokens"/> = this − 1.</summary>
    public int TokenCount => Result.TextTokens;
    public int ScoredTokens => Result.ScoredTokens;
    /// <summary>True when <see cref="EvaluationOptions.MaxTokens"/> cut the text.</summary>
    public bool Truncated => Result.Truncated;
    /// <summary>The in-context copy score (docs/evaluation.md).</summary>
    public CopyScore Copy => Result.Copy;
    /// <summary>The unigram, Kneser-Ney bigram and trigram losses on the same tokens, counted on the training text; null without one.</summary>
    public BaselineLosses? Baselines => Result.Baselines;
    /// <summary>Training tokens the baselines counted.</summary>
    public long BaselineTrainTokens => Result.BaselineTrainTokens;

    public override string ToString()
    {
        var inv = CultureInfo.InvariantCulture;
        var text = new StringBuilder(string.Create(inv,
            $"column '{ColumnName}' ({Rows:N0} rows): {TokenCount:N0} tokens{(Truncated ? " (cut at MaxTokens)" : "")}, loss {NatsPerToken:0.0000} nats/token, {BitsPerByte:0.0000} bits/byte, perplexity {Perplexity:0.00}, copy score {Copy.Ratio:0.000}"));
        if (Baselines is { } b) text.Append(string.Create(inv, $"; baselines (nats/token): {b}; {b.Verdict(NatsPerToken, "model")}"));
        return text.ToString();
    }

    internal static BitLlamaMetrics Evaluate(BitLlamaTransformer model, IDataView data, string? textColumnName, IDataView? trainingData, EvaluationOptions? options)
    {
        model.ThrowIfDisposed();
        string column = textColumnName ?? model.PromptColumnName;
        var (text, rows) = Join(data, column, "data");
        string? train = trainingData is null ? null : Join(trainingData, column, "trainingData").Text;
        if (train is { Length: 0 }) throw new ArgumentException($"Column '{column}' of trainingData holds no text.", nameof(trainingData));
        var result = ModelEvaluator.Evaluate(model.Model, text, train, options, $"column '{column}'");
        return new BitLlamaMetrics(result, rows, column);
    }

    /// <summary>The column as the lines of one text, each row followed by a newline: a line-per-row file reads back as itself.</summary>
    static (string Text, long Rows) Join(IDataView data, string column, string parameter)
    {
        DataViewSchema.Column c;
        try { c = SchemaChecks.Text(data.Schema, column); }
        catch (ArgumentOutOfRangeException e) { throw new ArgumentOutOfRangeException(parameter, e.Message); }
        var text = new StringBuilder();
        long rows = 0;
        using var cursor = data.GetRowCursor([c]);
        var getter = cursor.GetGetter<ReadOnlyMemory<char>>(c);
        ReadOnlyMemory<char> value = default;
        while (cursor.MoveNext())
        {
            getter(ref value);
            text.Append(value.Span).Append('\n');
            rows++;
        }
        return (text.ToString(), rows);
    }
}
