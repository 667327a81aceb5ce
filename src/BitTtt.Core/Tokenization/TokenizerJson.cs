using System.Text.Encodings.Web;
using System.Text.Json;

namespace BitTtt.Tokenization;

/// <summary>
/// Reads and writes the Hugging Face <c>tokenizer.json</c> subset this project uses (docs/model.md §4.3):
/// <code>
/// { "version": "1.0", "added_tokens": [{ "id", "content", "special", ... }],
///   "normalizer": null, "pre_tokenizer": { "type": "ByteLevel", "add_prefix_space": false, "use_regex": true },
///   "decoder": { "type": "ByteLevel" },
///   "model": { "type": "BPE", "vocab": { token: id }, "merges": [ "left right", ... ] } }
/// </code>
/// A pre-tokenizer with another split pattern is written as Hugging Face does:
/// <c>{ "type": "Sequence", "pretokenizers": [ { "type": "Split", "pattern": { "Regex": ... }, "behavior": "Isolated" },
/// { "type": "ByteLevel", "use_regex": false } ] }</c>.
/// Vocabulary strings are in the GPT-2 byte alphabet (<see cref="ByteLevel"/>), which has no space, so a
/// merge is written "left right"; the newer form <c>["left", "right"]</c> is read as well.
/// </summary>
internal static class TokenizerJson
{
    public static string Write(ByteLevelBpeModel model)
    {
        using var stream = new MemoryStream();
        var options = new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var w = new Utf8JsonWriter(stream, options))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            foreach (var t in model.AddedTokens)
            {
                w.WriteStartObject();
                w.WriteNumber("id", t.Id);
                w.WriteString("content", t.Content);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("special", t.Special);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNull("normalizer");
            WritePreTokenizer(w, model.SplitPattern);
            w.WriteNull("post_processor");
            w.WriteStartObject("decoder");
            WriteByteLevel(w, useRegex: true);
            w.WriteEndObject();
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            string? unk = model.AddedTokens.FirstOrDefault(t => t.Content == BpeVocabulary.Unk)?.Content;
            if (unk is null) w.WriteNull("unk_token"); else w.WriteString("unk_token", unk);
            w.WriteNull("continuing_subword_prefix");
            w.WriteNull("end_of_word_suffix");
            w.WriteBoolean("fuse_unk", false);
            w.WriteBoolean("byte_fallback", false);
            w.WriteStartObject("vocab");
            foreach (var (token, id) in model.Vocab.OrderBy(kv => kv.Value)) w.WriteNumber(token, id);
            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var (left, right) in model.Merges) w.WriteStringValue($"{left} {right}");
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>GPT-2's pattern is ByteLevel's own (use_regex); another pattern is a Split before a plain ByteLevel, as Hugging Face writes it.</summary>
    private static void WritePreTokenizer(Utf8JsonWriter w, string pattern)
    {
        w.WriteStartObject("pre_tokenizer");
        if (pattern == ByteLevel.SplitPattern)
        {
            WriteByteLevel(w, useRegex: true);
            w.WriteEndObject();
            return;
        }
        w.WriteString("type", "Sequence");
        w.WriteStartArray("pretokenizers");
        w.WriteStartObject();
        w.WriteString("type", "Split");
        w.WriteStartObject("pattern");
        w.WriteString("Regex", pattern);
        w.WriteEndObject();
        w.WriteString("behavior", "Isolated");
        w.WriteBoolean("invert", false);
        w.WriteEndObject();
        w.WriteStartObject();
        WriteByteLevel(w, useRegex: false);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteByteLevel(Utf8JsonWriter w, bool useRegex)
    {
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", useRegex);
    }

    /// <summary>
    /// Parses and checks a tokenizer.json; every problem is a <see cref="BitLlamaFormatException"/> naming the
    /// field. Accepted: exactly a lossless byte-level BPE — ids 0..n-1 each used once (vocabulary and added
    /// tokens together), all 256 byte symbols present, no empty or over-long token, merges whose parts and
    /// result are in the vocabulary and that appear once — within <paramref name="limits"/>.
    /// Tolerated: trailing commas, unknown fields, the older merge form <c>["left", "right"]</c>.
    /// </summary>
    public static ByteLevelBpeModel Read(string json, string? source, BitLlamaLoadLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        limits ??= BitLlamaLoadLimits.Default;
        using JsonDocument doc = StrictJson.Parse(json, source, "tokenizer.json", limits.MaxTokenizerJsonBytes, limits, allowTrailingCommas: true);
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Error(source, $"expected a JSON object, found {root.ValueKind}");
        JsonElement model = Field(root, "model", JsonValueKind.Object, source, "an object with type 'BPE', vocab and merges")
            ?? throw Error(source, "field 'model' is missing (expected an object with type 'BPE', vocab and merges)");
        CheckModelType(model, source);
        CheckModelOptions(model, source);
        CheckNormalizer(root, source);
        Field(root, "decoder", JsonValueKind.Object, source, "an object (ByteLevel)");
        string splitPattern = ReadSplitPattern(root, source, limits);
        var vocab = ReadVocab(model, source, limits);
        var added = ReadAddedTokens(root, source, limits);
        foreach (var t in added)
        {
            if (vocab.TryGetValue(t.Content, out int id) && id != t.Id)
            {
                throw Error(source, $"added_tokens: '{Show(t.Content)}' has id {t.Id} but model.vocab gives it id {id}");
            }
            vocab[t.Content] = t.Id;
        }
        var specials = added.Select(t => t.Content).ToHashSet(StringComparer.Ordinal);
        foreach (var (token, id) in vocab)
        {
            if (!specials.Contains(token) && !ByteLevel.TryDecode(token, out _))
            {
                throw Error(source, $"model.vocab: token '{Show(token)}' (id {id}) has a character outside the byte-level alphabet (only byte-level BPE is supported)");
            }
        }
        CheckIds(vocab, source, limits);
        CheckAllBytes(vocab, source);
        var merges = ReadMerges(model, vocab, source, limits);
        return new ByteLevelBpeModel(vocab, merges, added, splitPattern);
    }

    private static BitLlamaFormatException Error(string? source, string message) => BitLlamaFormatException.In(source, message);

    /// <summary>A value for a message: control characters escaped, at most 60 characters.</summary>
    private static string Show(string text)
    {
        var sb = new System.Text.StringBuilder();
        foreach (char c in text.Length > 60 ? text[..57] : text)
        {
            if (char.IsControl(c) || char.IsSurrogate(c) || c is '\u2028' or '\u2029' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069'))
                sb.Append($"\\u{(int)c:X4}");
            else sb.Append(c);
        }
        return text.Length > 60 ? sb + "..." : sb.ToString();
    }

    private static string Show(JsonElement e) => Show(e.GetRawText());

    /// <summary>The property when present and not null; a present value of another kind is an error naming the field.</summary>
    private static JsonElement? Field(JsonElement obj, string name, JsonValueKind kind, string? source, string expected, string? path = null)
    {
        if (!obj.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != kind && !(kind == JsonValueKind.True && v.ValueKind == JsonValueKind.False))
        {
            throw Error(source, $"field '{path ?? name}' must be {expected}, found {v.ValueKind} {Show(v)}");
        }
        return v;
    }

    private static bool Flag(JsonElement obj, string name, string? source, string path) =>
        Field(obj, name, JsonValueKind.True, source, "true or false", path)?.ValueKind == JsonValueKind.True;

    private static string? Text(JsonElement obj, string name, string? source, string path) =>
        Field(obj, name, JsonValueKind.String, source, "a string", path)?.GetString();

    private static void CheckModelType(JsonElement model, string? source)
    {
        string? name = Text(model, "type", source, "model.type");
        if (name is null)
        {
            // Older Hugging Face files omit the type of a BPE model; merges identify it.
            if (model.TryGetProperty("merges", out _)) return;
            throw Error(source, "field 'model.type' is missing (expected 'BPE')");
        }
        if (name != "BPE") throw Error(source, $"model.type '{Show(name)}' is not supported (expected 'BPE')");
    }

    /// <summary>BPE options that change how a word is split, which Microsoft.ML.Tokenizers' byte-level BPE does not do.</summary>
    private static void CheckModelOptions(JsonElement model, string? source)
    {
        foreach (string flag in new[] { "ignore_merges", "byte_fallback" })
        {
            if (Flag(model, flag, source, $"model.{flag}")) throw Error(source, $"model.{flag}=true is not supported (expected false)");
        }
        Flag(model, "fuse_unk", source, "model.fuse_unk");
        Text(model, "unk_token", source, "model.unk_token");
        if (Field(model, "dropout", JsonValueKind.Number, source, "null or a number", "model.dropout") is { } dropout
            && !(dropout.TryGetDouble(out double p) && p == 0))
        {
            throw Error(source, $"model.dropout {Show(dropout)} is not supported (expected null: BPE dropout makes encoding random)");
        }
        foreach (string affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (Text(model, affix, source, $"model.{affix}") is { Length: > 0 } value)
            {
                throw Error(source, $"model.{affix} '{Show(value)}' is not supported (expected null: byte-level BPE has no word affixes)");
            }
        }
    }

    private static void CheckNormalizer(JsonElement root, string? source)
    {
        if (root.TryGetProperty("normalizer", out JsonElement n) && n.ValueKind != JsonValueKind.Null)
        {
            throw Error(source, $"normalizer '{Show(TypeOf(n))}' is not supported (expected null: byte-level BPE needs no normalizer)");
        }
    }

    /// <summary>
    /// The split pattern the pre-tokenizer amounts to. Supported, as Hugging Face writes them:
    /// <c>ByteLevel</c> with use_regex (GPT-2's pattern), or a <c>Sequence</c> of a <c>Split</c> (Regex or String
    /// pattern, behavior Isolated, not inverted) and a <c>ByteLevel</c> without use_regex.
    /// </summary>
    private static string ReadSplitPattern(JsonElement root, string? source, BitLlamaLoadLimits limits)
    {
        JsonElement p = Field(root, "pre_tokenizer", JsonValueKind.Object, source, "an object (ByteLevel, or a Sequence of Split and ByteLevel)")
            ?? throw Error(source, "field 'pre_tokenizer' is missing (expected 'ByteLevel': only byte-level BPE is supported)");
        List<JsonElement> parts = [p];
        if (TypeOf(p) == "Sequence")
        {
            JsonElement seq = Field(p, "pretokenizers", JsonValueKind.Array, source, "an array", "pre_tokenizer.pretokenizers")
                ?? throw Error(source, "field 'pre_tokenizer.pretokenizers' is missing (expected an array)");
            parts = [.. seq.EnumerateArray().Take(3)];
        }
        string[] types = [.. parts.Select(TypeOf)];
        if (types is ["ByteLevel"])
        {
            CheckByteLevel(parts[0], useRegex: true, source);
            return ByteLevel.SplitPattern;
        }
        if (types is ["Split", "ByteLevel"])
        {
            CheckByteLevel(parts[1], useRegex: false, source);
            return ReadSplit(parts[0], source, limits);
        }
        throw Error(source, $"pre_tokenizer [{Show(string.Join(", ", types))}] is not supported (expected 'ByteLevel', or 'Split' then 'ByteLevel')");
    }

    private static void CheckByteLevel(JsonElement byteLevel, bool useRegex, string? source)
    {
        if (Flag(byteLevel, "add_prefix_space", source, "pre_tokenizer ByteLevel.add_prefix_space"))
        {
            throw Error(source, "pre_tokenizer ByteLevel add_prefix_space=true is not supported (expected false; it would change the text on a round trip)");
        }
        Flag(byteLevel, "trim_offsets", source, "pre_tokenizer ByteLevel.trim_offsets");
        // Hugging Face's default is true.
        bool found = byteLevel.TryGetProperty("use_regex", out _) ? Flag(byteLevel, "use_regex", source, "pre_tokenizer ByteLevel.use_regex") : true;
        if (found != useRegex)
        {
            throw Error(source, useRegex
                ? "pre_tokenizer ByteLevel use_regex=false needs a Split pre-tokenizer before it (expected use_regex=true)"
                : "pre_tokenizer ByteLevel after a Split must have use_regex=false (two split patterns are not supported)");
        }
    }

    private static string ReadSplit(JsonElement split, string? source, BitLlamaLoadLimits limits)
    {
        string? behavior = Text(split, "behavior", source, "pre_tokenizer Split.behavior");
        if (behavior != "Isolated") throw Error(source, $"pre_tokenizer Split behavior '{Show(behavior ?? "null")}' is not supported (expected 'Isolated')");
        if (Flag(split, "invert", source, "pre_tokenizer Split.invert"))
        {
            throw Error(source, "pre_tokenizer Split invert=true is not supported (expected false)");
        }
        if (Field(split, "pattern", JsonValueKind.Object, source, "an object with 'Regex' or 'String'", "pre_tokenizer Split.pattern") is { } pattern)
        {
            if (Text(pattern, "Regex", source, "pre_tokenizer Split.pattern.Regex") is { } text)
            {
                SplitRegex.Create(text, source, limits);   // rejects what cannot run safely, with the reason
                return text;
            }
            if (Text(pattern, "String", source, "pre_tokenizer Split.pattern.String") is { Length: > 0 } literal)
            {
                if (literal.Length > limits.MaxRegexLength)
                    throw Error(source, $"pre_tokenizer Split pattern is {literal.Length} characters, more than {limits.MaxRegexLength} (BitLlamaLoadLimits.MaxRegexLength)");
                return System.Text.RegularExpressions.Regex.Escape(literal);
            }
        }
        throw Error(source, "pre_tokenizer Split: expected 'pattern' with a 'Regex' or a non-empty 'String'");
    }

    private static string TypeOf(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out JsonElement t) ? (t.ValueKind == JsonValueKind.String ? t.GetString()! : t.GetRawText()) : e.ValueKind.ToString();

    private static Dictionary<string, int> ReadVocab(JsonElement model, string? source, BitLlamaLoadLimits limits)
    {
        JsonElement v = Field(model, "vocab", JsonValueKind.Object, source, "an object mapping token to id", "model.vocab")
            ?? throw Error(source, "field 'model.vocab' is missing (expected an object mapping token to id)");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var seen = new Dictionary<int, string>();
        foreach (JsonProperty p in v.EnumerateObject())
        {
            if (vocab.Count >= limits.MaxVocabSize)
                throw Error(source, $"model.vocab has more than {limits.MaxVocabSize} entries (BitLlamaLoadLimits.MaxVocabSize)");
            CheckToken(p.Name, "model.vocab", source, limits);
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0 || id >= limits.MaxVocabSize)
            {
                throw Error(source, $"model.vocab['{Show(p.Name)}']: expected an integer id in [0, {limits.MaxVocabSize}), found {Show(p.Value)}");
            }
            if (seen.TryGetValue(id, out string? other)) throw Error(source, $"model.vocab: id {id} is used by both '{Show(other)}' and '{Show(p.Name)}'");
            seen[id] = p.Name;
            vocab[p.Name] = id;
        }
        return vocab;
    }

    private static void CheckToken(string token, string field, string? source, BitLlamaLoadLimits limits)
    {
        if (token.Length == 0) throw Error(source, $"{field}: a token is the empty string (every token must stand for at least one byte)");
        if (token.Length > limits.MaxTokenLength)
            throw Error(source, $"{field}: token '{Show(token)}' is {token.Length} characters, more than {limits.MaxTokenLength} (BitLlamaLoadLimits.MaxTokenLength)");
    }

    /// <summary>Ids must be 0..n-1, each once: a gap is an id the model can sample but nothing can decode.</summary>
    private static void CheckIds(Dictionary<string, int> vocab, string? source, BitLlamaLoadLimits limits)
    {
        if (vocab.Count > limits.MaxVocabSize)
            throw Error(source, $"the vocabulary has {vocab.Count} tokens, more than {limits.MaxVocabSize} (BitLlamaLoadLimits.MaxVocabSize)");
        var used = new bool[vocab.Count];
        foreach (var (token, id) in vocab)
        {
            if (id >= used.Length)
                throw Error(source, $"token '{Show(token)}' has id {id}, but the {vocab.Count} tokens must use ids 0..{vocab.Count - 1} (ids must be contiguous)");
            if (used[id]) throw Error(source, $"id {id} is used by two tokens (one of them '{Show(token)}')");
            used[id] = true;
        }
    }

    /// <summary>Byte-level BPE is lossless only when every byte has a token.</summary>
    private static void CheckAllBytes(Dictionary<string, int> vocab, string? source)
    {
        for (int b = 0; b < 256; b++)
        {
            string symbol = ByteLevel.ByteToChar((byte)b).ToString();
            if (!vocab.ContainsKey(symbol))
                throw Error(source, $"model.vocab has no token for byte 0x{b:X2} ('{Show(symbol)}'); a byte-level BPE needs all 256 byte symbols or text with that byte cannot be encoded");
        }
    }

    private static List<AddedToken> ReadAddedTokens(JsonElement root, string? source, BitLlamaLoadLimits limits)
    {
        var added = new List<AddedToken>();
        if (Field(root, "added_tokens", JsonValueKind.Array, source, "an array") is not { } a) return added;
        var contents = new HashSet<string>(StringComparer.Ordinal);
        var ids = new HashSet<int>();
        int i = 0;
        foreach (JsonElement t in a.EnumerateArray())
        {
            if (i >= limits.MaxVocabSize) throw Error(source, $"added_tokens has more than {limits.MaxVocabSize} entries (BitLlamaLoadLimits.MaxVocabSize)");
            if (t.ValueKind != JsonValueKind.Object
                || !t.TryGetProperty("id", out JsonElement id) || id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out int idValue)
                || idValue < 0 || idValue >= limits.MaxVocabSize
                || !t.TryGetProperty("content", out JsonElement content) || content.ValueKind != JsonValueKind.String)
            {
                throw Error(source, $"added_tokens[{i}]: expected an object with an integer 'id' in [0, {limits.MaxVocabSize}) and a string 'content', found {Show(t)}");
            }
            string text = content.GetString()!;
            CheckToken(text, $"added_tokens[{i}].content", source, limits);
            foreach (string flag in new[] { "special", "single_word", "lstrip", "rstrip", "normalized" })
                Flag(t, flag, source, $"added_tokens[{i}].{flag}");
            if (!contents.Add(text)) throw Error(source, $"added_tokens[{i}]: '{Show(text)}' is listed twice");
            if (!ids.Add(idValue)) throw Error(source, $"added_tokens[{i}]: id {idValue} is used by two added tokens");
            bool special = !t.TryGetProperty("special", out JsonElement s) || s.ValueKind != JsonValueKind.False;
            added.Add(new AddedToken(idValue, text, special));
            i++;
        }
        return added;
    }

    private static List<(string, string)> ReadMerges(JsonElement model, Dictionary<string, int> vocab, string? source, BitLlamaLoadLimits limits)
    {
        JsonElement m = Field(model, "merges", JsonValueKind.Array, source, "an array of \"left right\" strings", "model.merges")
            ?? throw Error(source, "field 'model.merges' is missing (expected an array of \"left right\" strings)");
        if (m.GetArrayLength() > limits.MaxMerges)
            throw Error(source, $"model.merges has {m.GetArrayLength()} entries, more than {limits.MaxMerges} (BitLlamaLoadLimits.MaxMerges)");
        var merges = new List<(string, string)>(m.GetArrayLength());
        var seen = new HashSet<(string, string)>();
        int i = 0;
        foreach (JsonElement e in m.EnumerateArray())
        {
            (string? left, string? right) = (null, null);
            if (e.ValueKind == JsonValueKind.String)
            {
                string text = e.GetString()!;
                int space = text.IndexOf(' ');
                if (space > 0 && space < text.Length - 1 && text.IndexOf(' ', space + 1) < 0) (left, right) = (text[..space], text[(space + 1)..]);
            }
            else if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 2
                     && e[0].ValueKind == JsonValueKind.String && e[1].ValueKind == JsonValueKind.String)
            {
                (left, right) = (e[0].GetString(), e[1].GetString());
            }
            if (string.IsNullOrEmpty(left) || string.IsNullOrEmpty(right))
            {
                throw Error(source, $"model.merges[{i}]: expected \"left right\" (two tokens separated by one space), found {Show(e)}");
            }
            foreach (string part in new[] { left, right, left + right })
            {
                if (!vocab.ContainsKey(part)) throw Error(source, $"model.merges[{i}]: token '{Show(part)}' is not in model.vocab");
            }
            if (!seen.Add((left, right))) throw Error(source, $"model.merges[{i}]: '{Show(left)} {Show(right)}' is listed twice");
            merges.Add((left, right));
            i++;
        }
        return merges;
    }
}
