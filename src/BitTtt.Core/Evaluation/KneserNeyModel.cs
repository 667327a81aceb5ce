using System.Runtime.InteropServices;

namespace BitTtt.Evaluation;

/// <summary>
/// Interpolated Kneser-Ney n-gram model over token ids (order 2 or 3), trained by counting a token sequence.
/// The sequence is one stream (no sentence markers); a k-gram is k consecutive tokens of it.
/// <para>
/// Level k (k = order … 1) scores w after the context h of its last k−1 tokens:
/// <c>P_k(w | h) = max(c_k(h w) − D_k, 0) / S_k(h) + D_k · T_k(h) / S_k(h) · P_{k−1}(w | h')</c>,
/// where h' drops the oldest token of h, <c>S_k(h) = Σ_w c_k(h w)</c>, <c>T_k(h) = |{w : c_k(h w) > 0}|</c>,
/// and a context with <c>S_k(h) = 0</c> (never seen) passes straight to <c>P_{k−1}</c>.
/// The top level counts occurrences (<c>c_N = count</c>); lower levels count continuations,
/// <c>c_k(x) = |{a : count(a x) > 0}|</c>, the number of distinct tokens seen before x, where count is the
/// number of occurrences of the (k+1)-gram in the sequence.
/// <c>P_0(w) = 1 / V</c> is the floor, so no token ever gets probability 0.
/// The discount of each level is <c>D_k = n1 / (n1 + 2 n2)</c> (n1, n2 = k-grams with c_k = 1, 2), clamped
/// to [<see cref="MinDiscount"/>, <see cref="MaxDiscount"/>] so that every level keeps some mass for the next.
/// </para>
/// Keys are k-grams packed into a long (<c>((u·V) + v)·V + w</c>), so V is at most 2^21.
/// </summary>
public sealed class KneserNeyModel
{
    public const double MinDiscount = 0.05, MaxDiscount = 0.95;
    /// <summary>Largest vocabulary whose trigrams fit a 63-bit key.</summary>
    public const int MaxVocabSize = 1 << 21;

    readonly Level[] _levels;   // [0] = unigram level … [Order − 1] = top level

    KneserNeyModel(int vocabSize, Level[] levels)
    {
        VocabSize = vocabSize;
        _levels = levels;
    }

    public int VocabSize { get; }
    public int Order => _levels.Length;

    /// <summary>The discount D_k of level k (1 = unigram level … Order).</summary>
    public double Discount(int level) => _levels[level - 1].Discount;

    /// <summary>Counts <paramref name="tokens"/> (ids in [0, V)) into an order-2 or order-3 model.</summary>
    public static KneserNeyModel Train(ReadOnlySpan<int> tokens, int vocabSize, int order)
    {
        if (order is < 2 or > 3) throw new ArgumentOutOfRangeException(nameof(order), $"order must be 2 or 3, got {order}");
        if (vocabSize <= 0 || vocabSize > MaxVocabSize)
            throw new ArgumentOutOfRangeException(nameof(vocabSize), $"vocabulary size must be in [1, {MaxVocabSize}], got {vocabSize}");
        NGramBaselines.CheckIds(tokens, vocabSize, "training tokens");
        long v = vocabSize;
        // Occurrence counts of the top order; each lower level counts distinct left extensions of the level above.
        var counts = new Dictionary<long, int>[order + 1];
        counts[order] = CountOccurrences(tokens, v, order);
        for (int k = order - 1; k >= 1; k--)
            counts[k] = CountContinuations(k + 1 == order ? counts[order] : CountOccurrences(tokens, v, k + 1), Power(v, k));
        var levels = new Level[order];
        for (int k = 1; k <= order; k++) levels[k - 1] = new Level(counts[k], v);
        return new KneserNeyModel(vocabSize, levels);
    }

    /// <summary>P(token | the last Order − 1 tokens of <paramref name="context"/>); a shorter context uses the lower levels only.</summary>
    public double Probability(ReadOnlySpan<int> context, int token)
    {
        if ((uint)token >= (uint)VocabSize) throw new ArgumentOutOfRangeException(nameof(token), $"token {token} is outside [0, {VocabSize})");
        NGramBaselines.CheckIds(context, VocabSize, "context");
        int levels = Math.Min(Order, context.Length + 1);
        double p = 1.0 / VocabSize;
        // Bottom-up: level k sees the last k − 1 context tokens.
        for (int k = 1; k <= levels; k++)
        {
            long h = 0;
            for (int i = context.Length - (k - 1); i < context.Length; i++) h = h * VocabSize + context[i];
            p = _levels[k - 1].Interpolate(h, token, VocabSize, p);
        }
        return p;
    }

    /// <summary>
    /// Mean −ln P (nats/token) of every token of <paramref name="tokens"/>, each given the tokens before it in
    /// the same sequence (the first tokens have shorter contexts).
    /// </summary>
    public double CrossEntropy(ReadOnlySpan<int> tokens)
    {
        if (tokens.IsEmpty) throw new ArgumentException("no tokens to score", nameof(tokens));
        NGramBaselines.CheckIds(tokens, VocabSize, "scored tokens");
        double sum = 0;
        for (int t = 0; t < tokens.Length; t++)
        {
            int from = Math.Max(0, t - (Order - 1));
            sum -= Math.Log(Probability(tokens[from..t], tokens[t]));
        }
        return sum / tokens.Length;
    }

    static long Power(long v, int k)
    {
        long r = 1;
        for (int i = 0; i < k; i++) r *= v;
        return r;
    }

    static Dictionary<long, int> CountOccurrences(ReadOnlySpan<int> tokens, long v, int k)
    {
        var counts = new Dictionary<long, int>(Math.Min(tokens.Length, 1 << 20));
        for (int t = k - 1; t < tokens.Length; t++)
        {
            long key = 0;
            for (int i = t - k + 1; i <= t; i++) key = key * v + tokens[i];
            CollectionsMarshal.GetValueRefOrAddDefault(counts, key, out _)++;
        }
        return counts;
    }

    // c_k(x) = |{a : count(a x) > 0}|: each distinct (k+1)-gram "a x" that occurs adds one to x (its key modulo V^k).
    static Dictionary<long, int> CountContinuations(Dictionary<long, int> occurrences, long vToK)
    {
        var counts = new Dictionary<long, int>(occurrences.Count);
        foreach (long key in occurrences.Keys) CollectionsMarshal.GetValueRefOrAddDefault(counts, key % vToK, out _)++;
        return counts;
    }

    /// <summary>One level's counts c_k(h w) and, per context h, S_k(h) and T_k(h).</summary>
    sealed class Level
    {
        readonly Dictionary<long, int> _counts;                     // key h·V + w -> c_k(h w)
        readonly Dictionary<long, (long Sum, int Types)> _contexts; // h -> (S_k(h), T_k(h))

        public Level(Dictionary<long, int> counts, long v)
        {
            _counts = counts;
            _contexts = new Dictionary<long, (long, int)>();
            long n1 = 0, n2 = 0;
            foreach (var (key, c) in counts)
            {
                ref var s = ref CollectionsMarshal.GetValueRefOrAddDefault(_contexts, key / v, out _);
                s = (s.Sum + c, s.Types + 1);
                if (c == 1) n1++;
                else if (c == 2) n2++;
            }
            Discount = n1 + 2 * n2 == 0 ? 0.5 : Math.Clamp((double)n1 / (n1 + 2 * n2), MinDiscount, MaxDiscount);
        }

        public double Discount { get; }

        public double Interpolate(long h, int w, long v, double lower)
        {
            if (!_contexts.TryGetValue(h, out var s)) return lower;   // unseen context
            int c = _counts.TryGetValue(h * v + w, out int found) ? found : 0;
            return (Math.Max(c - Discount, 0) + Discount * s.Types * lower) / s.Sum;
        }
    }
}
