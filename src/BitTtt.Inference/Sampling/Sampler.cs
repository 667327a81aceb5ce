using BitTtt.Tokenization;

namespace BitTtt.Inference.Sampling;

/// <summary>
/// Picks the next token from logits: repetition penalty, the UTF-8 mask (with a <see cref="Utf8TokenTable"/>),
/// then greedy (temperature 0) or temperature → top-k → softmax → top-p (nucleus) → a draw from the seeded generator.
/// Buffers are sized once per vocabulary, so a step allocates nothing. Not thread-safe.
/// </summary>
public sealed class Sampler
{
    /// <summary>Top-p sorts only this many best candidates when they already hold the top-p mass.</summary>
    const int NucleusWindow = 256;

    readonly SamplingOptions _options;
    readonly float[] _scores;      // (V) penalised, temperature-scaled logits
    readonly int[] _order;         // (V) candidate token ids
    readonly float[] _probs;       // (V) candidate probabilities, in _order's order
    readonly int[] _seen;          // (V) stamp of the last step that penalised a token
    readonly Random _random;
    readonly Comparison<int> _byScoreDescending;
    readonly Utf8TokenTable? _utf8;
    byte _utf8State = Utf8TokenTable.Ready;
    int _stamp;

    /// <summary>
    /// A sampler for <paramref name="vocabSize"/> logits. With <paramref name="utf8"/>, every sampled sequence of
    /// tokens is valid UTF-8 (a token whose bytes cannot continue the pending character, or start one, is never
    /// chosen), in every mode including greedy; the sampler then tracks the bytes it has emitted, so use one
    /// sampler per generated text.
    /// </summary>
    public Sampler(SamplingOptions options, int vocabSize, Utf8TokenTable? utf8 = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabSize);
        _options = options;
        _scores = new float[vocabSize];
        _order = new int[vocabSize];
        _probs = new float[vocabSize];
        _seen = new int[vocabSize];
        _random = options.Seed is int seed ? new Random(seed) : new Random();
        _byScoreDescending = (a, b) => Before(a, b) ? -1 : Before(b, a) ? 1 : 0;
        if (utf8 is not null && utf8.VocabSize < vocabSize)
            throw new ArgumentException($"the UTF-8 table covers {utf8.VocabSize} tokens, fewer than the {vocabSize} logits", nameof(utf8));
        _utf8 = utf8;
    }

    /// <summary>Chooses a token (see <see cref="Choose"/>) and, with a UTF-8 table, advances the pending-character state past it.</summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> context)
    {
        int token = Choose(logits, context);
        // A token outside the table's rules is only chosen when nothing valid could follow (see MaskInvalidUtf8);
        // the character is broken then anyway, so the tracking starts afresh.
        if (_utf8 is not null) _utf8State = _utf8.Allows(_utf8State, token) ? _utf8.After(_utf8State, token) : Utf8TokenTable.Ready;
        return token;
    }

    /// <summary>
    /// Sets -∞ on tokens that would break UTF-8 after the bytes emitted so far. When no token at all may follow
    /// (a vocabulary without the needed continuation bytes), nothing is masked rather than failing.
    /// </summary>
    void MaskInvalidUtf8()
    {
        if (_utf8 is null) return;
        bool any = false;
        for (int i = 0; i < _scores.Length && !any; i++) any = _utf8.Allows(_utf8State, i) && _scores[i] > float.NegativeInfinity;
        if (!any) return;
        for (int i = 0; i < _scores.Length; i++)
            if (!_utf8.Allows(_utf8State, i)) _scores[i] = float.NegativeInfinity;
    }

    /// <summary>Chooses a token given the logits (V) and the context tokens the repetition penalty applies to.</summary>
    int Choose(ReadOnlySpan<float> logits, ReadOnlySpan<int> context)
    {
        int vocab = _scores.Length;
        if (logits.Length != vocab)
            throw new ArgumentException($"expected {vocab} logits, got {logits.Length}", nameof(logits));
        logits.CopyTo(_scores);
        ApplyRepetitionPenalty(context);
        MaskInvalidUtf8();
        if (_options.Temperature == 0) return ArgMax(_scores);

        for (int i = 0; i < vocab; i++) { _scores[i] /= _options.Temperature; _order[i] = i; }
        int n = _options.TopK > 0 && _options.TopK < vocab ? _options.TopK : vocab;
        if (n < vocab) SelectTop(n);

        // Softmax normaliser over the n candidates (order does not matter for it).
        float max = float.NegativeInfinity;
        for (int i = 0; i < n; i++) max = MathF.Max(max, _scores[_order[i]]);
        double total = 0;
        for (int i = 0; i < n; i++) total += MathF.Exp(_scores[_order[i]] - max);

        // Top-p needs the candidates in order, highest first. Sorting the whole vocabulary costs more than
        // a decode step, so sort only the best NucleusWindow when they already hold the required mass.
        bool nucleus = _options.TopP < 1;
        int m = n;
        if (nucleus && n > NucleusWindow)
        {
            SelectTop(NucleusWindow);
            double head = 0;
            for (int i = 0; i < NucleusWindow; i++) head += MathF.Exp(_scores[_order[i]] - max);
            if (head >= _options.TopP * total) m = NucleusWindow;
            else if (n < _order.Length) SelectTop(n);   // restore the top-k set at the front
        }
        if (nucleus) _order.AsSpan(0, m).Sort(_byScoreDescending);
        for (int i = 0; i < m; i++) _probs[i] = MathF.Exp(_scores[_order[i]] - max);
        int keep = m;
        if (nucleus)
        {
            double cumulative = 0;
            for (int i = 0; i < m; i++)
            {
                cumulative += _probs[i] / total;
                if (cumulative >= _options.TopP) { keep = i + 1; break; }
            }
        }
        double mass = 0;
        for (int i = 0; i < keep; i++) mass += _probs[i];
        double u = _random.NextDouble() * mass;
        for (int i = 0; i < keep; i++)
        {
            u -= _probs[i];
            if (u < 0) return _order[i];
        }
        // Rounding left u >= 0: the last candidate with any probability (never a masked one).
        for (int i = keep - 1; i > 0; i--) if (_probs[i] > 0) return _order[i];
        return _order[0];
    }

    void ApplyRepetitionPenalty(ReadOnlySpan<int> context)
    {
        float p = _options.RepetitionPenalty;
        if (p == 1f) return;
        _stamp++;
        foreach (int t in context)
        {
            if ((uint)t >= (uint)_scores.Length || _seen[t] == _stamp) continue;
            _seen[t] = _stamp;   // each distinct token penalised once
            _scores[t] = _scores[t] > 0 ? _scores[t] / p : _scores[t] * p;
        }
    }

    static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    /// <summary>Moves the n highest-scoring ids to the front of _order (quickselect; ties broken by lower id).</summary>
    void SelectTop(int n)
    {
        int lo = 0, hi = _order.Length - 1;
        while (lo < hi)
        {
            int pivot = _order[(lo + hi) >>> 1], i = lo, j = hi;
            while (i <= j)
            {
                while (Before(_order[i], pivot)) i++;
                while (Before(pivot, _order[j])) j--;
                if (i <= j) { (_order[i], _order[j]) = (_order[j], _order[i]); i++; j--; }
            }
            if (n - 1 <= j) hi = j;
            else if (n - 1 >= i) lo = i;
            else break;
        }
    }

    bool Before(int a, int b) => _scores[a] > _scores[b] || (_scores[a] == _scores[b] && a < b);
}
