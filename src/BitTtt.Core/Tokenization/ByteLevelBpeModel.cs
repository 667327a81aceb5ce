namespace BitTtt.Tokenization;

/// <summary>An added (usually special) token of a <c>tokenizer.json</c>.</summary>
internal sealed record AddedToken(int Id, string Content, bool Special);

/// <summary>
/// A byte-level BPE model as a Hugging Face <c>tokenizer.json</c> holds it: vocabulary strings in the
/// GPT-2 byte alphabet (<see cref="ByteLevel"/>), merges in priority order, added tokens.
/// </summary>
internal sealed class ByteLevelBpeModel
{
    public ByteLevelBpeModel(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, IReadOnlyList<AddedToken> addedTokens,
                             string splitPattern = ByteLevel.SplitPattern)
    {
        Vocab = vocab;
        Merges = merges;
        AddedTokens = addedTokens;
        SplitPattern = splitPattern;
    }

    /// <summary>The pre-tokenizer pattern: GPT-2's (ByteLevel with use_regex), or a Split pre-tokenizer's.</summary>
    public string SplitPattern { get; }

    public IReadOnlyDictionary<string, int> Vocab { get; }
    public IReadOnlyList<(string Left, string Right)> Merges { get; }
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>
    /// Builds the model a trainer produced: specials at 0-2, then every id's bytes in the byte alphabet, then
    /// <paramref name="reserved"/> special tokens after the last learned id.
    /// </summary>
    public static ByteLevelBpeModel FromMerges(BpeMerges learned, IReadOnlyList<string>? reserved = null)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var added = new List<AddedToken>();
        for (int id = 0; id < BpeVocabulary.FirstByteId; id++)
        {
            vocab[BpeVocabulary.Specials[id]] = id;
            added.Add(new AddedToken(id, BpeVocabulary.Specials[id], Special: true));
        }
        for (int id = BpeVocabulary.FirstByteId; id < learned.TokenBytes.Count; id++)
        {
            string token = ByteLevel.Encode(learned.TokenBytes[id]);
            if (!vocab.TryAdd(token, id))
            {
                throw new InvalidOperationException($"learned token '{token}' (id {id}) collides with id {vocab[token]}");
            }
        }
        var merges = learned.Merges
            .Select(m => (ByteLevel.Encode(learned.TokenBytes[m.Left]), ByteLevel.Encode(learned.TokenBytes[m.Right])))
            .ToList();
        return new ByteLevelBpeModel(vocab, merges, added).WithSpecialTokens(reserved ?? []);
    }

    /// <summary>
    /// This model with each of <paramref name="tokens"/> it lacks appended as a special token (ids V, V+1, ... in
    /// the order given); itself when it has them all.
    /// </summary>
    public ByteLevelBpeModel WithSpecialTokens(IEnumerable<string> tokens)
    {
        var specials = AddedTokens.Where(t => t.Special).Select(t => t.Content).ToHashSet(StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (string token in tokens)
        {
            if (specials.Contains(token) || missing.Contains(token)) continue;
            if (Vocab.TryGetValue(token, out int id))
                throw new ArgumentException($"'{token}' is an ordinary token of this vocabulary (id {id}), so it cannot be added as a special token", nameof(tokens));
            missing.Add(token);
        }
        if (missing.Count == 0) return this;
        var vocab = new Dictionary<string, int>(Vocab, StringComparer.Ordinal);
        var added = new List<AddedToken>(AddedTokens);
        int next = vocab.Count == 0 ? 0 : vocab.Values.Max() + 1;
        foreach (string token in missing)
        {
            vocab[token] = next;
            added.Add(new AddedToken(next++, token, Special: true));
        }
        return new ByteLevelBpeModel(vocab, Merges, added, SplitPattern);
    }
}
