using System.Text;

// Multi-query associative recall (MQAR, "Zoology", Arora et al. 2023) as plain text, so `bit-llama train`
// and this benchmark train on it like on any corpus. One line of the plain layout:
//
//   " bako dufe kimi poze ... | kimi poze bako dufe ...\n"
//     listing: Pairs key-value pairs      query: the same pairs in another order
//
// Keys and values come from two small closed sets of letter-only pseudo-words (disjoint syllables), each
// written with a leading space, so the byte-level pre-tokenizer keeps every word whole and a BPE trained
// on this text makes each one a single token. Every line draws new pairs (keys without repetition within
// a line, values with), so the query half is predictable only by looking the key up in the listing of
// the same line: a model without in-context recall sees every value as a fresh draw (ln |values| nats).
//
// A RecallLayout writes the same task in other layouts, each feature on its own or together:
//   separators   " ;" after every pair:         " bako dufe ; kimi poze ; | kimi poze ; bako dufe ;"
//   headers      a word before each half:       " facts bako dufe kimi poze | query kimi poze bako dufe"
//   shared       keys and values drawn from one set of words of one shape (a value may be another pair's key)
// With all three and 6 pairs a line is 40 tokens, more than half a 64-token window, so most training
// windows cut a line and hold a listing without its queries or queries without their listing.

/// <summary>Which layout features an MQAR line has (see the file comment).</summary>
sealed record RecallLayout(bool Separators = false, bool Headers = false, bool Shared = false)
{
    /// <summary>The plain layout of the original benchmark.</summary>
    public static readonly RecallLayout Plain = new();

    /// <summary>The corpus name of this layout: "recall", or "recall-" and its features joined by '-' ("recall-sep-header-shared").</summary>
    public string CorpusName =>
        this == Plain ? "recall" : "recall-" + string.Join('-', new[] { Separators ? "sep" : null, Headers ? "header" : null, Shared ? "shared" : null }.OfType<string>());

    /// <summary>The layout a corpus name stands for ("recall", "recall-sep", "recall-header-shared", ...), or null when the name is no recall corpus.</summary>
    public static RecallLayout? FromCorpusName(string name)
    {
        if (name == "recall") return Plain;
        if (!name.StartsWith("recall-", StringComparison.Ordinal)) return null;
        var layout = Plain;
        foreach (string feature in name["recall-".Length..].Split('-'))
            layout = feature switch
            {
                "sep" => layout with { Separators = true },
                "header" => layout with { Headers = true },
                "shared" => layout with { Shared = true },
                _ => throw new ArgumentException($"--corpora: unknown recall layout feature '{feature}' in '{name}' (expected sep, header, shared)"),
            };
        return layout;
    }
}

/// <summary>Token roles of an MQAR line: which tokens the recall score reads.</summary>
enum RecallRole : byte
{
    /// <summary>Separators, headers, the newline: not scored.</summary>
    None = 0,
    /// <summary>A key or value of the listing half.</summary>
    Listing = 1,
    /// <summary>A key of the query half (unpredictable: the queries come in a random order).</summary>
    QueryKey = 2,
    /// <summary>A value of the query half: predictable only by looking its key up in the listing.</summary>
    QueryValue = 3,
}

/// <summary>Writes reproducible MQAR lines; the same seed and settings give the same text.</summary>
sealed class RecallText
{
    public const string Separator = " |";
    public const string PairSeparator = " ;";
    public const string ListingHeader = " facts", QueryHeader = " query";
    static readonly string[] KeySyllables = ["ba", "ko", "mi", "ru", "te", "lo", "ni", "sa"];
    static readonly string[] ValueSyllables = ["du", "fe", "gi", "po", "ze", "vu", "hy", "wa"];

    public RecallText(int pairs = 8, int keys = 64, int values = 64, RecallLayout? layout = null)
    {
        Layout = layout ?? RecallLayout.Plain;
        if (pairs < 1) throw new ArgumentException($"--pairs must be positive, got {pairs}", nameof(pairs));
        int most = KeySyllables.Length * KeySyllables.Length;
        if (keys < pairs || keys > most) throw new ArgumentException($"--keys must be between --pairs ({pairs}) and {most}, got {keys}", nameof(keys));
        if (values < 2 || values > most) throw new ArgumentException($"--values must be between 2 and {most}, got {values}", nameof(values));
        Pairs = pairs;
        if (Layout.Shared)
        {
            // One set of words of one shape for both roles: syllables of either set in either place, interleaved so
            // the first N words mix both sets; keys are the first --keys words, values the first --values words.
            string[] syllables = [.. KeySyllables.Zip(ValueSyllables).SelectMany(p => new[] { p.First, p.Second })];
            var words = Words(syllables, Math.Max(keys, values));
            Keys = words[..keys];
            Values = words[..values];
        }
        else
        {
            Keys = Words(KeySyllables, keys);
            Values = Words(ValueSyllables, values);
        }
    }

    public int Pairs { get; }
    public RecallLayout Layout { get; }
    /// <summary>The key words, each with its leading space (" bako").</summary>
    public IReadOnlyList<string> Keys { get; }
    /// <summary>The value words, each with its leading space (" dufe").</summary>
    public IReadOnlyList<string> Values { get; }

    // Two-syllable words in a fixed order: word i = syllables[i / n] + syllables[i % n].
    static string[] Words(string[] syllables, int count) =>
        Enumerable.Range(0, count).Select(i => " " + syllables[i / syllables.Length] + syllables[i % syllables.Length]).ToArray();

    /// <summary>One line without its newline, as pieces of text with the role of each (keys and values are single words).</summary>
    public IReadOnlyList<(string Text, RecallRole Role)> Line(Random rng)
    {
        var keys = Keys.ToArray();
        rng.Shuffle(keys);                                           // the first Pairs keys: distinct within the line
        var pairs = keys.Take(Pairs).Select(k => (Key: k, Value: Values[rng.Next(Values.Count)])).ToArray();
        var line = new List<(string, RecallRole)>();
        void Half(string header, RecallRole keyRole, RecallRole valueRole)
        {
            if (Layout.Headers) line.Add((header, RecallRole.None));
            foreach (var (key, value) in pairs)
            {
                line.Add((key, keyRole));
                line.Add((value, valueRole));
                if (Layout.Separators) line.Add((PairSeparator, RecallRole.None));
            }
        }
        Half(ListingHeader, RecallRole.Listing, RecallRole.Listing);
        line.Add((Separator, RecallRole.None));
        rng.Shuffle(pairs);                                          // queries in another order
        Half(QueryHeader, RecallRole.QueryKey, RecallRole.QueryValue);
        return line;
    }

    /// <summary>Lines of text from <paramref name="seed"/> (System.Random with a seed is stable across runs and platforms of one .NET version).</summary>
    public IEnumerable<string> Lines(int count, int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < count; i++) yield return string.Concat(Line(rng).Select(p => p.Text));
    }

    /// <summary>Writes <paramref name="count"/> lines to <paramref name="path"/> atomically (temporary file + rename).</summary>
    public void Write(string path, int count, int seed)
    {
        var text = new StringBuilder();
        foreach (var line in Lines(count, seed)) text.Append(line).Append('\n');
        BitTtt.AtomicFile.WriteAllText(path, text.ToString());
    }
}
