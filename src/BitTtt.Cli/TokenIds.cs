using System.Globalization;

namespace BitTtt.Cli;

/// <summary>The comma-separated token ids of <c>logits --tokens</c> and <c>tokenizer decode --ids</c>, read by one rule.</summary>
internal static class TokenIds
{
    /// <summary>
    /// "1,2,3" (spaces allowed): at least one id, each a non-negative integer. An empty entry ("1,,2", a trailing
    /// comma, an empty value) is an error naming <paramref name="flag"/>, never skipped: the ids given are the ids used.
    /// </summary>
    public static int[] Parse(string text, string flag)
    {
        string[] parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts is [""]) throw new ArgumentException($"{flag}: give at least one token id, e.g. {flag} 1,2,3");
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (parts[i].Length == 0)
                throw new ArgumentException($"{flag}: '{text}' has an empty entry at position {i + 1}; give comma-separated ids, e.g. {flag} 1,2,3");
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]))
                throw new ArgumentException($"{flag}: '{parts[i]}' is not an integer token id (expected a non-negative integer, e.g. {flag} 1,2,3)");
        }
        return ids;
    }
}
