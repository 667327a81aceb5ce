namespace BitTtt.Tokenization;

/// <summary>
/// Tiktoken-style BPE over a rank table (token bytes → rank; lower merges first): repeatedly merge the
/// adjacent pair whose concatenation has the lowest rank. Used to recover a merge list from ranks
/// (split each token using only lower-ranked tokens) and to recognise the GPT-2 encoding.
/// Keys are byte strings in the <see cref="ByteLevel"/> alphabet.
/// </summary>
internal static class RankedBpe
{
    /// <summary>Splits <paramref name="token"/> into the parts left after merging with ranks below <paramref name="maxRank"/>.</summary>
    public static List<string> Split(string token, IReadOnlyDictionary<string, int> ranks, int maxRank = int.MaxValue)
    {
        var parts = new List<string>(token.Length);
        foreach (char c in token) parts.Add(c.ToString());
        while (parts.Count > 1)
        {
            int bestIndex = -1, bestRank = maxRank;
            for (int i = 0; i + 1 < parts.Count; i++)
            {
                if (ranks.TryGetValue(parts[i] + parts[i + 1], out int rank) && rank < bestRank)
                {
                    (bestIndex, bestRank) = (i, rank);
                }
            }
            if (bestIndex < 0) break;
            parts[bestIndex] += parts[bestIndex + 1];
            parts.RemoveAt(bestIndex + 1);
        }
        return parts;
    }

    /// <summary>
    /// The merge list that reproduces a rank table in Hugging Face BPE form: for every multi-byte token in
    /// rank order, the two parts BPE leaves when only lower-ranked tokens may merge.
    /// </summary>
    public static List<(string Left, string Right)> DeriveMerges(IReadOnlyDictionary<string, int> ranks)
    {
        var merges = new List<(string, string)>();
        foreach (var (token, rank) in ranks.OrderBy(kv => kv.Value))
        {
            if (token.Length < 2) continue;
            var parts = Split(token, ranks, rank);
            if (parts.Count != 2)
            {
                throw new InvalidOperationException(
                    $"token '{token}' (rank {rank}) does not split into exactly two lower-ranked tokens (found {parts.Count}); the rank table is not a BPE vocabulary");
            }
            merges.Add((parts[0], parts[1]));
        }
        return merges;
    }
}
