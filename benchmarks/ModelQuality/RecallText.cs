using System.Text;

// Multi-query associative recall (MQAR, "Zoology", Arora et al. 2023) as plain text, so `bit-llama train`
// and this benchmark train on it like on any corpus. One line:
//
//   " bako dufe kimi poze ... | kimi poze bako dufe ...\n"
//     listing: Pairs key-value pairs      query: the same pairs in another order
//
// Keys and values come from two small closed sets of letter-only pseudo-words (disjoint syllables), each
// written with a leading space, so the byte-level pre-tokenizer keeps every word whole and a BPE trained
// on this text makes each one a single token. Every line draws new pairs (keys without repetition within
// a line, values with), so the query half is predictable only by looking the key up in the listing of
// the same line: a model without in-context recall sees every value as a fresh draw (ln |values| nats).

/// <summary>Writes reproducible MQAR lines; the same seed and settings give the same text.</summary>
sealed class RecallText
{
    public const string Separator = " |";
    static readonly string[] KeySyllables = ["ba", "ko", "mi", "ru", "te", "lo", "ni", "sa"];
    static readonly string[] ValueSyllables = ["du", "fe", "gi", "po", "ze", "vu", "hy", "wa"];

    public RecallText(int pairs = 8, int keys = 64, int values = 64)
    {
        if (pairs < 1) throw new ArgumentException($"--pairs must be positive, got {pairs}", nameof(pairs));
        int most = KeySyllables.Length * KeySyllables.Length;
        if (keys < pairs || keys > most) throw new ArgumentException($"--keys must be between --pairs ({pairs}) and {most}, got {keys}", nameof(keys));
        if (values < 2 || values > most) throw new ArgumentException($"--values must be between 2 and {most}, got {values}", nameof(values));
        Pairs = pairs;
        Keys = Words(KeySyllables, keys);
        Values = Words(ValueSyllables, values);
    }

    public int Pairs { get; }
    /// <summary>The key words, each with its leading space (" bako").</summary>
    public IReadOnlyList<string> Keys { get; }
    /// <summary>The value words, each with its leading space (" dufe").</summary>
    public IReadOnlyList<string> Values { get; }

    // Two-syllable words in a fixed order: word i = syllables[i / n] + syllables[i % n].
    static string[] Words(string[] syllables, int count) =>
        Enumerable.Range(0, count).Select(i => " " + syllables[i / syllables.Length] + syllables[i % syllables.Length]).ToArray();

    /// <summary>One line without its newline: (listing, query), the line being <c>listing + Separator + query</c>.</summary>
    public (string Listing, string Query) Line(Random rng)
    {
        var keys = Keys.ToArray();
        rng.Shuffle(keys);                                           // the first Pairs keys: distinct within the line
        var pairs = keys.Take(Pairs).Select(k => k + Values[rng.Next(Values.Count)]).ToArray();
        var listing = string.Concat(pairs);
        rng.Shuffle(pairs);                                          // queries in another order
        return (listing, string.Concat(pairs));
    }

    /// <summary>Lines of text from <paramref name="seed"/> (System.Random with a seed is stable across runs and platforms of one .NET version).</summary>
    public IEnumerable<string> Lines(int count, int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var (listing, query) = Line(rng);
            yield return listing + Separator + query;
        }
    }

    /// <summary>Writes <paramref name="count"/> lines to <paramref name="path"/> atomically (temporary file + rename).</summary>
    public void Write(string path, int count, int seed)
    {
        var text = new StringBuilder();
        foreach (var line in Lines(count, seed)) text.Append(line).Append('\n');
        BitTtt.AtomicFile.WriteAllText(path, text.ToString());
    }
}
