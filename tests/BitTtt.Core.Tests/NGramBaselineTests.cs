using BitTtt.Evaluation;

namespace BitTtt.Core.Tests;

/// <summary>
/// The textbook interpolated Kneser-Ney, written with tuple dictionaries and no cleverness: the
/// specification the hashed <see cref="KneserNeyModel"/> is compared with.
/// </summary>
sealed class ReferenceKneserNey
{
    readonly int _v, _order;
    readonly Dictionary<(int, int, int), int> _tri = new();     // occurrences c(u v w)
    readonly Dictionary<(int, int), int> _bi = new();           // occurrences c(v w)
    readonly Dictionary<(int, int), int> _biCont = new();       // N1+(• v w) = |{u : c(u v w) > 0}|
    readonly Dictionary<int, int> _uniCont = new();             // N1+(• w) = |{v : c(v w) > 0}|
    public double D1, D2, D3;

    public ReferenceKneserNey(int[] tokens, int vocab, int order)
    {
        (_v, _order) = (vocab, order);
        for (int t = 2; t < tokens.Length; t++) Inc(_tri, (tokens[t - 2], tokens[t - 1], tokens[t]));
        for (int t = 1; t < tokens.Length; t++) Inc(_bi, (tokens[t - 1], tokens[t]));
        foreach (var (u, v, w) in _tri.Keys) Inc(_biCont, (v, w));
        foreach (var (v, w) in _bi.Keys) Inc(_uniCont, w);
        D1 = Discount(_uniCont.Values);
        D2 = Discount(order == 2 ? _bi.Values : _biCont.Values);
        D3 = Discount(_tri.Values);
    }

    static void Inc<TKey>(Dictionary<TKey, int> d, TKey key) where TKey : notnull => d[key] = d.GetValueOrDefault(key) + 1;

    static double Discount(IEnumerable<int> counts)
    {
        int n1 = counts.Count(c => c == 1), n2 = counts.Count(c => c == 2);
        return n1 + 2 * n2 == 0 ? 0.5 : Math.Clamp(n1 / (double)(n1 + 2 * n2), 0.05, 0.95);
    }

    public double P1(int w)
    {
        double total = _uniCont.Values.Sum(), types = _uniCont.Count;
        if (total == 0) return 1.0 / _v;
        return Math.Max(_uniCont.GetValueOrDefault(w) - D1, 0) / total + D1 * types / total / _v;
    }

    public double P2(int v, int w)
    {
        // the bigram level: occurrences when it is the top level, continuation counts under a trigram
        var counts = _order == 2 ? _bi : _biCont;
        double total = counts.Where(e => e.Key.Item1 == v).Sum(e => e.Value);
        int types = counts.Count(e => e.Key.Item1 == v);
        if (total == 0) return P1(w);
        return Math.Max(counts.GetValueOrDefault((v, w)) - D2, 0) / total + D2 * types / total * P1(w);
    }

    public double P3(int u, int v, int w)
    {
        double total = _tri.Where(e => e.Key.Item1 == u && e.Key.Item2 == v).Sum(e => e.Value);
        int types = _tri.Count(e => e.Key.Item1 == u && e.Key.Item2 == v);
        if (total == 0) return P2(v, w);
        return Math.Max(_tri.GetValueOrDefault((u, v, w)) - D3, 0) / total + D3 * types / total * P2(v, w);
    }

    public double P(int[] context, int w) =>
        context.Length == 0 ? P1(w)
        : context.Length == 1 || _order == 2 ? P2(context[^1], w)
        : P3(context[^2], context[^1], w);
}

[TestClass]
public sealed class NGramBaselineTests
{
    static int[] RandomTokens(Random r, int length, int vocab)
    {
        // Skewed (a few frequent ids) and with repeats, so counts of 1, 2 and more all occur.
        var t = new int[length];
        for (int i = 0; i < length; i++)
            t[i] = i > 2 && r.Next(3) == 0 ? t[i - 3] : (int)(vocab * Math.Pow(r.NextDouble(), 2));
        return t;
    }

    [TestMethod]
    public void ProbabilitiesMatchTheTextbookReferenceOnRandomCorpora()
    {
        var r = new Random(11);
        foreach (var (length, vocab) in new[] { (1, 3), (2, 5), (7, 3), (53, 7), (211, 13), (997, 29) })
        {
            var tokens = RandomTokens(r, length, vocab);
            foreach (int order in new[] { 2, 3 })
            {
                var fast = KneserNeyModel.Train(tokens, vocab, order);
                var reference = new ReferenceKneserNey(tokens, vocab, order);
                Assert.AreEqual(reference.D1, fast.Discount(1), 1e-12, $"D1, length {length}, order {order}");
                Assert.AreEqual(reference.D2, fast.Discount(2), 1e-12, $"D2, length {length}, order {order}");
                if (order == 3) Assert.AreEqual(reference.D3, fast.Discount(3), 1e-12, $"D3, length {length}");
                for (int trial = 0; trial < 40; trial++)
                {
                    int[] context = Enumerable.Range(0, r.Next(0, 4)).Select(_ => r.Next(vocab)).ToArray();
                    if (trial % 2 == 0 && length > 3) context = tokens[(trial % (length - 2))..(trial % (length - 2) + 2)];
                    int w = r.Next(vocab);
                    Assert.AreEqual(reference.P(context, w), fast.Probability(context, w), 1e-12,
                        $"P({w} | {string.Join(",", context)}), length {length}, vocab {vocab}, order {order}");
                }
            }
        }
    }

    [TestMethod]
    public void ProbabilitiesSumToOneForSeenAndUnseenContexts()
    {
        var r = new Random(5);
        const int vocab = 17;
        var tokens = RandomTokens(r, 301, vocab);
        foreach (int order in new[] { 2, 3 })
        {
            var model = KneserNeyModel.Train(tokens, vocab, order);
            int[][] contexts = [[], [tokens[0]], [tokens[10], tokens[11]], [tokens[100], tokens[101]], [vocab - 1, vocab - 1], [3, 16, 0]];
            foreach (var context in contexts)
            {
                double sum = 0;
                for (int w = 0; w < vocab; w++)
                {
                    double p = model.Probability(context, w);
                    Assert.IsTrue(p > 0, $"P({w} | {string.Join(",", context)}) = {p}, expected > 0 (unigram floor)");
                    sum += p;
                }
                Assert.AreEqual(1.0, sum, 1e-12, $"sum over the vocabulary after [{string.Join(",", context)}], order {order}");
            }
        }
    }

    [TestMethod]
    public void KnownTinyExample()
    {
        // "0 1 0 1 0 2", V = 3. Bigram occurrences: 01 ×2, 10 ×2, 02 ×1 → n1 = 1, n2 = 2, D2 = 1/5.
        // Continuations N1+(• w): w=0 ← {1}, w=1 ← {0}, w=2 ← {0}: all 1 → n1 = 3, n2 = 0, D1 = 0.95 (clamped from 1).
        // P1(w) = (1 − 0.95)/3 + 0.95 · 3/3 / 3 = 1/3 for every w.
        // After 0: S = 3, T = 2: P(1|0) = (2 − 0.2)/3 + 0.2 · 2/3 · 1/3 = 0.6 + 0.2·2/9.
        int[] tokens = [0, 1, 0, 1, 0, 2];
        var model = KneserNeyModel.Train(tokens, 3, 2);
        Assert.AreEqual(0.2, model.Discount(2), 1e-12);
        Assert.AreEqual(0.95, model.Discount(1), 1e-12);
        Assert.AreEqual(1.0 / 3, model.Probability([], 2), 1e-12);
        Assert.AreEqual(0.6 + 0.4 / 9, model.Probability([0], 1), 1e-12);
        Assert.AreEqual((1 - 0.2) / 3 + 0.4 / 9, model.Probability([0], 2), 1e-12);
        Assert.AreEqual(0.4 / 9, model.Probability([0], 0), 1e-12);
        // Unseen context (2 is never followed by anything): the unigram level alone.
        Assert.AreEqual(1.0 / 3, model.Probability([2], 0), 1e-12);
        // Add-one unigram: counts 0:3, 1:2, 2:1 over N = 6, V = 3 → P(2) = 2/9.
        Assert.AreEqual(-Math.Log(2.0 / 9), NGramBaselines.UnigramCrossEntropy(tokens, [2], 3), 1e-12);
    }

    [TestMethod]
    public void RepetitiveTextIsEasierForHigherOrders()
    {
        // A period-5 sequence is fully determined by the previous token: bigram and trigram ≪ unigram.
        var train = Enumerable.Range(0, 2000).Select(i => i % 5 * 3).ToArray();
        var valid = Enumerable.Range(0, 200).Select(i => i % 5 * 3).ToArray();
        var b = NGramBaselines.Measure(train, valid, 16);
        Assert.IsTrue(b.Unigram > 1.5, b.ToString());
        Assert.IsTrue(b.Bigram < 0.1 && b.Trigram < 0.1, b.ToString());
    }

    [TestMethod]
    public void CrossEntropyIsTheMeanNegativeLogOfEachTokenGivenItsHistory()
    {
        var r = new Random(3);
        var train = RandomTokens(r, 400, 11);
        var valid = RandomTokens(r, 37, 11);
        var model = KneserNeyModel.Train(train, 11, 3);
        double expected = 0;
        for (int t = 0; t < valid.Length; t++) expected -= Math.Log(model.Probability(valid[Math.Max(0, t - 2)..t], valid[t]));
        Assert.AreEqual(expected / valid.Length, model.CrossEntropy(valid), 1e-12);
        Assert.AreEqual(expected / valid.Length, NGramBaselines.Measure(train, valid, 11).Trigram, 1e-12);
    }

    [TestMethod]
    public void VerdictSaysWhichBaselinesAreBeaten()
    {
        var b = new BaselineLosses(5.97, 4.24, 3.85);
        Assert.AreEqual("validation 4.10 nats: beats the unigram (5.97) and the bigram (4.24), not the trigram (3.85)", b.Verdict(4.10));
        Assert.AreEqual("validation 3.00 nats: beats the unigram (5.97), the bigram (4.24) and the trigram (3.85)", b.Verdict(3.0));
        Assert.AreEqual("validation 6.50 nats: does not beat the unigram (5.97), the bigram (4.24) or the trigram (3.85)", b.Verdict(6.5));
        Assert.AreEqual("validation 5.00 nats: beats the unigram (5.97), not the bigram (4.24) or the trigram (3.85)", b.Verdict(5.0));
        Assert.IsTrue(b.AllBeatenBy(3.0));
        Assert.IsFalse(b.AllBeatenBy(4.0));
    }

    [TestMethod]
    public void BadInputIsAClearArgumentError()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => NGramBaselines.Measure([1, 2, 9], [1], 5));
        StringAssert.Contains(e.Message, "token id 9 at position 2");
        Assert.ThrowsExactly<ArgumentException>(() => NGramBaselines.Measure([], [1], 5));
        Assert.ThrowsExactly<ArgumentException>(() => NGramBaselines.Measure([1], [], 5));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => KneserNeyModel.Train([1], KneserNeyModel.MaxVocabSize + 1, 3));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => KneserNeyModel.Train([1], 5, 4));
    }
}
