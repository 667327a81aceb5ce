using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace BitTtt.Tokenization;

/// <summary>
/// The tokenizer of a BitLlama model: byte-level BPE loaded from a Hugging Face <c>tokenizer.json</c>
/// (encoded and decoded by Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> with the GPT-2 split
/// pattern, or the file's own Split pattern), or a wrapped Microsoft.ML.Tokenizers tokenizer such as GPT-2's. Decode(Encode(s)) == s for
/// any text. Keeps every id's raw bytes for <see cref="Utf8StreamDecoder"/>.
/// </summary>
public sealed class BitLlamaTokenizer
{
    private readonly byte[]?[] _tokenBytes;
    private readonly Func<ByteLevelBpeModel>? _model;
    private readonly Lazy<string>? _json;
    private readonly KeyValuePair<string, int>[] _specials;

    private BitLlamaTokenizer(Tokenizer inner, byte[]?[] tokenBytes, IReadOnlyDictionary<string, int> specials, Func<ByteLevelBpeModel>? model, Func<string, int?> idOf)
    {
        Inner = inner;
        _specials = [.. specials.Where(kv => kv.Key.Length > 0)];
        _tokenBytes = tokenBytes;
        _model = model;
        _json = model is null ? null : new Lazy<string>(() => TokenizerJson.Write(model()));
        UnkId = idOf(BpeVocabulary.Unk);
        BosId = idOf(BpeVocabulary.Bos) ?? idOf(Gpt2Encoding.EndOfText);
        EosId = idOf(BpeVocabulary.Eos) ?? idOf(Gpt2Encoding.EndOfText);
    }

    /// <summary>Number of ids (highest id + 1).</summary>
    public int VocabSize => _tokenBytes.Length;

    /// <summary><c>&lt;s&gt;</c>, or GPT-2's <c>&lt;|endoftext|&gt;</c>; null when the vocabulary has neither.</summary>
    public int? BosId { get; }

    /// <summary><c>&lt;/s&gt;</c>, or GPT-2's <c>&lt;|endoftext|&gt;</c>; null when the vocabulary has neither.</summary>
    public int? EosId { get; }

    /// <summary><c>&lt;unk&gt;</c>, or null. Byte-level BPE never produces it for text.</summary>
    public int? UnkId { get; }

    /// <summary>The Microsoft.ML.Tokenizers tokenizer that encodes and decodes.</summary>
    public Tokenizer Inner { get; }

    /// <summary>Loads a tokenizer.json (byte-level BPE); problems are <see cref="BitLlamaFormatException"/>s naming the field.</summary>
    public static BitLlamaTokenizer FromJson(string tokenizerJson, string? source = "tokenizer.json", BitLlamaLoadLimits? limits = null)
    {
        limits ??= BitLlamaLoadLimits.Default;
        ByteLevelBpeModel model = TokenizerJson.Read(tokenizerJson, source, limits);
        var specials = model.AddedTokens.ToDictionary(t => t.Content, t => t.Id, StringComparer.Ordinal);
        var options = new BpeOptions(model.Vocab)
        {
            Merges = model.Merges.Select(m => $"{m.Left} {m.Right}"),
            ByteLevel = true,
            PreTokenizer = model.SplitPattern == ByteLevel.SplitPattern
                ? new RegexPreTokenizer(ByteLevel.SplitRegex(), specials)
                : new SplitPreTokenizer(SplitRegex.Create(model.SplitPattern, source, limits), source),
            SpecialTokens = specials,
            UnknownToken = model.Vocab.ContainsKey(BpeVocabulary.Unk) ? BpeVocabulary.Unk : null,
        };
        var tokenBytes = BytesOf(model.Vocab, specials.Keys.ToHashSet(StringComparer.Ordinal));
        return new BitLlamaTokenizer(BpeTokenizer.Create(options), tokenBytes, specials, () => model, t => model.Vocab.TryGetValue(t, out int id) ? id : null);
    }

    /// <summary>Reads and loads a tokenizer.json file.</summary>
    public static BitLlamaTokenizer Load(string path, BitLlamaLoadLimits? limits = null)
    {
        limits ??= BitLlamaLoadLimits.Default;
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer file '{path}' does not exist", path);
        byte[] bytes = StrictJson.ReadFile(path, "tokenizer file", limits.MaxTokenizerJsonBytes);
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
            throw BitLlamaFormatException.In(path, "invalid JSON tokenizer.json: it is not valid UTF-8");
        return FromJson(Encoding.UTF8.GetString(bytes), path, limits);
    }

    /// <summary>
    /// Wraps a Microsoft.ML.Tokenizers tokenizer. Supported: a byte-level <see cref="BpeTokenizer"/> and the
    /// GPT-2 <see cref="TiktokenTokenizer"/> (whose token bytes come from the GPT-2 data package).
    /// </summary>
    public static BitLlamaTokenizer FromTokenizer(Tokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        switch (tokenizer)
        {
            case TiktokenTokenizer tiktoken when Gpt2Encoding.Instance.Matches(tiktoken):
                return Gpt2Wrapping(tiktoken);
            case BpeTokenizer { ByteLevel: true } bpe:
                var vocab = new Dictionary<string, int>(bpe.Vocabulary, StringComparer.Ordinal);
                var specials = new HashSet<string>(StringComparer.Ordinal);
                foreach (var (token, id) in bpe.SpecialTokens ?? new Dictionary<string, int>())
                {
                    vocab[token] = id;
                    specials.Add(token);
                }
                // A wrapped BpeTokenizer does not expose its merges, so no tokenizer.json can be written for it.
                return new BitLlamaTokenizer(bpe, BytesOf(vocab, specials), specials.ToDictionary(t => t, t => vocab[t]), null, t => vocab.TryGetValue(t, out int i) ? i : null);
            default:
                throw new ArgumentException(
                    $"FromTokenizer: {tokenizer.GetType().Name} is not supported (expected a byte-level BpeTokenizer or the GPT-2 TiktokenTokenizer); for a tokenizer.json use FromJson",
                    nameof(tokenizer));
        }
    }

    /// <summary>GPT-2 (tiktoken r50k ranks, 50257 ids, <c>&lt;|endoftext|&gt;</c> = 50256).</summary>
    public static BitLlamaTokenizer Gpt2() => Gpt2Wrapping(Gpt2Encoding.CreateTokenizer());

    private static BitLlamaTokenizer Gpt2Wrapping(TiktokenTokenizer tokenizer)
    {
        var gpt2 = Gpt2Encoding.Instance;
        return new BitLlamaTokenizer(tokenizer, gpt2.TokenBytes, tokenizer.SpecialTokens ?? new Dictionary<string, int>(), () => gpt2.Model,
            t => t == Gpt2Encoding.EndOfText ? Gpt2Encoding.EndOfTextId : null);
    }

    /// <summary>
    /// The Hugging Face tokenizer.json of this tokenizer (what a .bitt file embeds). For GPT-2 the merges
    /// are recovered from the tiktoken ranks. A wrapped BpeTokenizer hides its merges: NotSupportedException.
    /// </summary>
    public string ToJson() =>
        _json?.Value ?? throw new NotSupportedException(
            $"ToJson: the wrapped {Inner.GetType().Name} does not expose its merges; load the tokenizer with FromJson to be able to save it");

    /// <summary>The special tokens (<c>added_tokens</c> of a tokenizer.json) and their ids.</summary>
    public IReadOnlyList<KeyValuePair<string, int>> SpecialTokens => _specials;

    /// <summary>The id of special token <paramref name="token"/> (e.g. <c>&lt;|end|&gt;</c>), or null when the tokenizer has no such special token.</summary>
    public int? SpecialTokenId(string token)
    {
        foreach (var (text, id) in _specials)
            if (text == token) return id;
        return null;
    }

    /// <summary>
    /// This tokenizer with every token of <paramref name="tokens"/> it lacks appended as a special token (ids
    /// <see cref="VocabSize"/>, +1, ... in the order given; docs/model.md §6.1): the existing ids are unchanged, so a
    /// model's rows for them still apply. Itself when nothing is missing. A wrapped BpeTokenizer hides its merges:
    /// NotSupportedException, as for <see cref="ToJson"/>.
    /// </summary>
    public BitLlamaTokenizer WithSpecialTokens(IEnumerable<string> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        var list = tokens.ToList();
        if (list.All(t => SpecialTokenId(t) is not null)) return this;
        if (_model is null)
            throw new NotSupportedException($"WithSpecialTokens: the wrapped {Inner.GetType().Name} does not expose its merges; load the tokenizer with FromJson to extend it");
        return FromJson(TokenizerJson.Write(_model().WithSpecialTokens(list)), "tokenizer with added special tokens");
    }

    /// <summary>Encodes text; special-token strings in it (e.g. <c>&lt;s&gt;</c>) become their ids.</summary>
    public int[] Encode(string text) => Encode(text, parseSpecialTokens: true);

    /// <summary>
    /// Encodes text. With <paramref name="parseSpecialTokens"/> false a special token's string in the text is
    /// encoded as the characters it is made of, never as the special id (how a chat message is encoded,
    /// docs/model.md §6.3: a user cannot end a turn by typing <c>&lt;|end|&gt;</c>); the ids still decode to the text.
    /// </summary>
    public int[] Encode(string text, bool parseSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        return parseSpecialTokens ? EncodeWithSpecials(text) : EncodePlain(text);
    }

    // The text is cut one character into every special token's string: neither piece holds a whole special string,
    // so the inner tokenizer (which knows the specials) encodes both as text.
    int[] EncodePlain(string text)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        int start = 0;
        while (start < text.Length)
        {
            int cut = -1;
            foreach (var (special, _) in _specials)
            {
                int at = text.IndexOf(special, start, StringComparison.Ordinal);
                if (at >= 0 && (cut < 0 || at < cut)) cut = at;
            }
            if (cut < 0) break;
            cut += char.IsHighSurrogate(text[cut]) && cut + 1 < text.Length ? 2 : 1;
            ids.AddRange(Inner.EncodeToIds(text.AsSpan(start, cut - start)));
            start = cut;
        }
        if (start < text.Length) ids.AddRange(Inner.EncodeToIds(text.AsSpan(start)));
        return [.. ids];
    }

    int[] EncodeWithSpecials(string text)
    {
        // Specials are split out here rather than left to the inner tokenizer: Microsoft.ML.Tokenizers 2.0.1's
        // TiktokenTokenizer encodes "<|endoftext|>" as plain text once its word cache has evicted it
        // (after about a megabyte of input), which would make the ids depend on what was encoded before.
        var ids = new List<int>(text.Length / 3 + 4);
        // next[i]: where special i next occurs at or after start (-1: nowhere); each is searched for again only
        // once start has passed it, so the text is scanned about once per special token kind.
        int[] next = [.. _specials.Select(s => text.IndexOf(s.Key, StringComparison.Ordinal))];
        int start = 0;
        while (true)
        {
            int best = -1;
            for (int i = 0; i < next.Length; i++)
            {
                if (next[i] < 0) continue;
                if (best < 0 || next[i] < next[best] || (next[i] == next[best] && _specials[i].Key.Length > _specials[best].Key.Length)) best = i;
            }
            if (best < 0) break;
            int index = next[best];
            if (index > start) ids.AddRange(Inner.EncodeToIds(text.AsSpan(start, index - start)));
            ids.Add(_specials[best].Value);
            start = index + _specials[best].Key.Length;
            for (int i = 0; i < next.Length; i++)
            {
                if (next[i] >= 0 && next[i] < start) next[i] = text.IndexOf(_specials[i].Key, start, StringComparison.Ordinal);
            }
        }
        if (start < text.Length) ids.AddRange(Inner.EncodeToIds(text.AsSpan(start)));
        return [.. ids];
    }

    /// <summary>Decodes ids; an id outside the vocabulary is an <see cref="ArgumentException"/> naming it.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var list = ids as IReadOnlyList<int> ?? ids.ToList();
        foreach (int id in list) TokenBytes(id);
        return Inner.Decode(list) ?? string.Empty;
    }

    public Utf8StreamDecoder CreateStreamDecoder() => new(this);

    /// <summary>
    /// Which tokens keep generated text valid UTF-8 after which bytes (see <see cref="Utf8TokenTable"/>);
    /// built once per tokenizer, on first use.
    /// </summary>
    public Utf8TokenTable Utf8Table => _utf8Table ??= Utf8TokenTable.Build(_tokenBytes);

    Utf8TokenTable? _utf8Table;

    /// <summary>The raw bytes of one id (a special token's are its UTF-8 text); empty for an id without text.</summary>
    public ReadOnlySpan<byte> GetTokenBytes(int id) => (uint)id < (uint)_tokenBytes.Length && _tokenBytes[id] is { } b ? b : default;

    /// <summary>The raw bytes of one id (a special token's are its UTF-8 text).</summary>
    internal byte[] TokenBytes(int id)
    {
        if ((uint)id >= (uint)_tokenBytes.Length || _tokenBytes[id] is not { } bytes)
        {
            throw new ArgumentException($"token id {id} is not in the vocabulary (valid ids: 0..{_tokenBytes.Length - 1})");
        }
        return bytes;
    }

    private static byte[]?[] BytesOf(IReadOnlyDictionary<string, int> vocab, HashSet<string> specials)
    {
        var table = new byte[]?[vocab.Count == 0 ? 0 : vocab.Values.Max() + 1];
        foreach (var (token, id) in vocab)
        {
            if (specials.Contains(token) || !ByteLevel.TryDecode(token, out byte[] bytes)) bytes = Encoding.UTF8.GetBytes(token);
            table[id] = bytes;
        }
        return table;
    }
}
