using System.Globalization;

namespace BitTtt.Evaluation;

/// <summary>
/// Validation cross-entropies (nats/token) of three counting models trained on the same training tokens:
/// what a language model must beat to have learned more than token statistics.
/// </summary>
/// <param name="Unigram">Add-one (Laplace) smoothed unigram: <c>(count(w) + 1) / (N + V)</c>.</param>
/// <param name="Bigram">Interpolated Kneser-Ney bigram (<see cref="KneserNeyModel"/>, order 2).</param>
/// <param name="Trigram">Interpolated Kneser-Ney trigram (<see cref="KneserNeyModel"/>, order 3).</param>
public sealed record BaselineLosses(double Unigram, double Bigram, double Trigram)
{
    /// <summary><c>unigram 5.97  KN-bigram 4.24  KN-trigram 3.85</c> (nats/token).</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"unigram {Unigram:0.00}  KN-bigram {Bigram:0.00}  KN-trigram {Trigram:0.00}");

    /// <summary>
    /// One plain sentence saying which baselines a model's loss beats, e.g.
    /// <c>validation 4.10 nats: beats the unigram (5.97) and the bigram (4.24), not the trigram (3.85)</c>.
    /// </summary>
    public string Verdict(double modelLoss, string what = "validation")
    {
        var all = new (string Name, double Loss)[] { ("unigram", Unigram), ("bigram", Bigram), ("trigram", Trigram) };
        var beaten = all.Where(b => modelLoss < b.Loss).ToList();
        var not = all.Where(b => !(modelLoss < b.Loss)).ToList();
        string head = string.Create(CultureInfo.InvariantCulture, $"{what} {modelLoss:0.00} nats: ");
        if (not.Count == 0) return head + "beats " + List(beaten, "and");
        if (beaten.Count == 0) return head + "does not beat " + List(not, "or");
        return head + "beats " + List(beaten, "and") + ", not " + List(not, "or");
    }

    static string List(List<(string Name, double Loss)> items, string conjunction)
    {
        var parts = items.Select(b => string.Create(CultureInfo.InvariantCulture, $"the {b.Name} ({b.Loss:0.00})")).ToList();
        return parts.Count == 1 ? parts[0] : string.Join(", ", parts[..^1]) + $" {conjunction} " + parts[^1];
    }

    /// <summary>True when <paramref name="modelLoss"/> is below all three.</summary>
    public bool AllBeatenBy(double modelLoss) => modelLoss < Unigram && modelLoss < Bigram && modelLoss < Trigram;
}

/// <summary>
/// The n-gram baselines over token ids: train on one sequence, score another. Counting only: about a
/// second per few million tokens.
/// </summary>
public static class NGramBaselines
{
    /// <summary>Unigram, KN-bigram and KN-trigram cross-entropies of <paramref name="validation"/> after counting <paramref name="train"/>.</summary>
    public static BaselineLosses Measure(ReadOnlySpan<int> train, ReadOnlySpan<int> validation, int vocabSize)
    {
        if (train.IsEmpty) throw new ArgumentException("the training tokens are empty", nameof(train));
        if (validation.IsEmpty) throw new ArgumentException("the validation tokens are empty", nameof(validation));
        return new BaselineLosses(
            UnigramCrossEntropy(train, validation, vocabSize),
            KneserNeyModel.Train(train, vocabSize, 2).CrossEntropy(validation),
            KneserNeyModel.Train(train, vocabSize, 3).CrossEntropy(validation));
    }

    /// <summary>Cross-entropy (nats/token) of <paramref name="validation"/> under the add-one smoothed unigram of <paramref name="train"/>.</summary>
    public static double UnigramCrossEntropy(ReadOnlySpan<int> train, ReadOnlySpan<int> validation, int vocabSize)
    {
        if (vocabSize <= 0) throw new ArgumentOutOfRangeException(nameof(vocabSize), $"vocabulary size must be positive, got {vocabSize}");
        if (validation.IsEmpty) throw new ArgumentException("no tokens to score", nameof(validation));
        CheckIds(train, vocabSize, "training tokens");
        CheckIds(validation, vocabSize, "scored tokens");
        var counts = new long[vocabSize];
        foreach (int id in train) counts[id]++;
        double denominator = (double)train.Length + vocabSize, sum = 0;
        foreach (int id in validation) sum -= Math.Log((counts[id] + 1) / denominator);
        return sum / validation.Length;
    }

    internal static void CheckIds(ReadOnlySpan<int> ids, int vocabSize, string what)
    {
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)vocabSize)
                throw new ArgumentException($"{what}: token id {ids[i]} at position {i} is outside the vocabulary [0, {vocabSize})");
    }
}
