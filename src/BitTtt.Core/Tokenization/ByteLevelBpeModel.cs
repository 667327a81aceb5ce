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

    /// <summary>Builds the model a trainer produced: specials at 0-2, then every id's bytes in the byte alphabet.</summary>
    public static ByteLevelBpeModel FromMerges(BpeMerges learned)
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
        return new ByteLevelBpeModel(vocab, merges, added);
    }
}
