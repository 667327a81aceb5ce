using System.Text;

namespace BitTtt.Tokenization;

/// <summary>The result of learning merges: the bytes of every id (null for specials) and the merges in order.</summary>
internal sealed record BpeMerges(IReadOnlyList<byte[]?> TokenBytes, IReadOnlyList<(int Left, int Right)> Merges);

/// <summary>
/// Learns byte-level BPE merges from word counts. Each word is a symbol sequence starting as its UTF-8
/// bytes. Pair counts (overlapping occurrences, weighted by word frequency) are built once; after each
/// merge only the words that contain the merged pair are rewritten, and only the pair counts of those
/// words change. The best pair comes from a max-heap with lazy deletion: an entry whose count is no
/// longer current is skipped, since every count change pushes a fresh entry.
/// Tie-break (deterministic): highest count, then smallest (left id, right id).
/// A merge whose bytes already form a token reuses that id (as Hugging Face's trainer does), so merges
/// can outnumber new ids; training stops at the vocabulary size or when no pair reaches MinFrequency.
/// </summary>
internal static class BpeMergeLearner
{
    private sealed class HeapOrder : IComparer<(long Count, long Pair)>
    {
        public static readonly HeapOrder Instance = new();

        public int Compare((long Count, long Pair) x, (long Count, long Pair) y) =>
            x.Count != y.Count ? y.Count.CompareTo(x.Count) : x.Pair.CompareTo(y.Pair);
    }

    public static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    public static BpeMerges Learn(IReadOnlyDictionary<string, long> wordCounts, BpeTrainerOptions options, CancellationToken cancellationToken = default)
    {
        options.Validate();
        var (tokenBytes, byBytes) = InitialVocabulary();
        var words = ToSymbols(wordCounts);
        var pairCounts = new Dictionary<long, long>();
        var pairWords = new Dictionary<long, HashSet<int>>();
        for (int w = 0; w < words.Length; w++)
        {
            var (syms, freq) = words[w];
            for (int i = 0; i + 1 < syms.Count; i++)
            {
                long key = PairKey(syms[i], syms[i + 1]);
                pairCounts[key] = pairCounts.GetValueOrDefault(key) + freq;
                if (!pairWords.TryGetValue(key, out var set)) pairWords[key] = set = [];
                set.Add(w);
            }
        }
        var heap = new PriorityQueue<long, (long Count, long Pair)>(HeapOrder.Instance);
        foreach (var (key, count) in pairCounts) heap.Enqueue(key, (count, key));

        var merges = new List<(int, int)>();
        var delta = new Dictionary<long, long>();
        while (tokenBytes.Count < options.LearnedVocabSize && heap.TryDequeue(out long best, out var entry))
        {
            if (entry.Count != pairCounts.GetValueOrDefault(best) || entry.Count <= 0) continue;  // stale
            if (entry.Count < options.MinFrequency) break;
            cancellationToken.ThrowIfCancellationRequested();
            int left = (int)(best >> 32), right = (int)(uint)best;
            int merged = AddToken(tokenBytes, byBytes, left, right);
            merges.Add((left, right));

            delta.Clear();
            foreach (int w in pairWords[best])
            {
                var (syms, freq) = words[w];
                if (!Contains(syms, left, right)) continue;
                AddPairs(delta, syms, -freq);
                MergeInPlace(syms, left, right, merged);
                AddPairs(delta, syms, freq);
                for (int i = 0; i + 1 < syms.Count; i++)
                {
                    if (syms[i] != merged && syms[i + 1] != merged) continue;
                    long key = PairKey(syms[i], syms[i + 1]);
                    if (!pairWords.TryGetValue(key, out var set)) pairWords[key] = set = [];
                    set.Add(w);
                }
            }
            pairWords.Remove(best);
            foreach (var (key, d) in delta)
            {
                if (d == 0) continue;
                long count = pairCounts.GetValueOrDefault(key) + d;
                if (count > 0) { pairCounts[key] = count; heap.Enqueue(key, (count, key)); }
                else pairCounts.Remove(key);
            }
        }
        return new BpeMerges(tokenBytes, merges);
    }

    /// <summary>Ids 0-2 specials (no bytes, not in the byte-string map), 3-258 one byte each.</summary>
    internal static (List<byte[]?> TokenBytes, Dictionary<string, int> ByBytes) InitialVocabulary()
    {
        var tokenBytes = new List<byte[]?> { null, null, null };
        var byBytes = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int b = 0; b < 256; b++)
        {
            tokenBytes.Add([(byte)b]);
            byBytes[ByteLevel.Encode([(byte)b])] = BpeVocabulary.FirstByteId + b;
        }
        return (tokenBytes, byBytes);
    }

    /// <summary>The id of left+right's bytes, adding a new token when those bytes are not a token yet.</summary>
    internal static int AddToken(List<byte[]?> tokenBytes, Dictionary<string, int> byBytes, int left, int right)
    {
        byte[] bytes = [.. tokenBytes[left]!, .. tokenBytes[right]!];
        string key = ByteLevel.Encode(bytes);
        if (byBytes.TryGetValue(key, out int id)) return id;
        id = tokenBytes.Count;
        tokenBytes.Add(bytes);
        byBytes[key] = id;
        return id;
    }

    /// <summary>Words in ordinal order (so ids of words, and everything after, are deterministic) as byte-symbol lists.</summary>
    internal static (List<int> Symbols, long Freq)[] ToSymbols(IReadOnlyDictionary<string, long> wordCounts)
    {
        var ordered = wordCounts.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();
        var words = new (List<int>, long)[ordered.Length];
        for (int w = 0; w < ordered.Length; w++)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(ordered[w].Key);
            var syms = new List<int>(bytes.Length);
            foreach (byte b in bytes) syms.Add(BpeVocabulary.FirstByteId + b);
            words[w] = (syms, ordered[w].Value);
        }
        return words;
    }

    /// <summary>Replaces non-overlapping occurrences of (left, right), scanning left to right.</summary>
    internal static void MergeInPlace(List<int> syms, int left, int right, int merged)
    {
        int write = 0;
        for (int read = 0; read < syms.Count; write++)
        {
            if (read + 1 < syms.Count && syms[read] == left && syms[read + 1] == right)
            {
                syms[write] = merged;
                read += 2;
            }
            else
            {
                syms[write] = syms[read++];
            }
        }
        syms.RemoveRange(write, syms.Count - write);
    }

    private static bool Contains(List<int> syms, int left, int right)
    {
        for (int i = 0; i + 1 < syms.Count; i++)
        {
            if (syms[i] == left && syms[i + 1] == right) return true;
        }
        return false;
    }

    private static void AddPairs(Dictionary<long, long> delta, List<int> syms, long amount)
    {
        for (int i = 0; i + 1 < syms.Count; i++)
        {
            long key = PairKey(syms[i], syms[i + 1]);
            delta[key] = delta.GetValueOrDefault(key) + amount;
        }
    }
}
