using System.Text.Encodings.Web;
using System.Text.Json;

namespace BitTtt.Tokenization;

/// <summary>
/// Reads and writes the Hugging Face <c>tokenizer.json</c> subset this project uses (SPEC §4.3):
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

    /// <summary>Parses and checks a tokenizer.json; every problem is a <see cref="BitLlamaFormatException"/> naming the field.</summary>
    public static ByteLevelBpeModel Read(string json, string? source)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw BitLlamaFormatException.In(source, $"not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Error(source, $"expected a JSON object, found {root.ValueKind}");
            if (!root.TryGetProperty("model", out JsonElement model) || model.ValueKind != JsonValueKind.Object)
            {
                throw Error(source, "field 'model' is missing (expected an object with type 'BPE', vocab and merges)");
            }
            CheckModelType(model, source);
            CheckModelOptions(model, source);
            CheckNormalizer(root, source);
            string splitPattern = ReadSplitPattern(root, source);
            var vocab = ReadVocab(model, source);
            var added = ReadAddedTokens(root, source);
            foreach (var t in added)
            {
                if (vocab.TryGetValue(t.Content, out int id) && id != t.Id)
                {
                    throw Error(source, $"added_tokens: '{t.Content}' has id {t.Id} but model.vocab gives it id {id}");
                }
                vocab[t.Content] = t.Id;
            }
            var specials = added.Select(t => t.Content).ToHashSet(StringComparer.Ordinal);
            foreach (var (token, id) in vocab)
            {
                if (!specials.Contains(token) && !ByteLevel.TryDecode(token, out _))
                {
                    throw Error(source, $"model.vocab: token '{token}' (id {id}) has a character outside the byte-level alphabet (only byte-level BPE is supported)");
                }
            }
            var merges = ReadMerges(model, vocab, source);
            return new ByteLevelBpeModel(vocab, merges, added, splitPattern);
        }
    }

    private static BitLlamaFormatException Error(string? source, string message) => BitLlamaFormatException.In(source, message);

    private static void CheckModelType(JsonElement model, string? source)
    {
        if (!model.TryGetProperty("type", out JsonElement type) || type.ValueKind == JsonValueKind.Null)
        {
            // Older Hugging Face files omit the type of a BPE model; merges identify it.
            if (model.TryGetProperty("merges", out _)) return;
            throw Error(source, "field 'model.type' is missing (expected 'BPE')");
        }
        string? name = type.ValueKind == JsonValueKind.String ? type.GetString() : type.ToString();
        if (name != "BPE") throw Error(source, $"model.type '{name}' is not supported (expected 'BPE')");
    }

    /// <summary>BPE options that change how a word is split, which Microsoft.ML.Tokenizers' byte-level BPE does not do.</summary>
    private static void CheckModelOptions(JsonElement model, string? source)
    {
        foreach (string flag in new[] { "ignore_merges", "byte_fallback" })
        {
            if (model.TryGetProperty(flag, out JsonElement v) && v.ValueKind == JsonValueKind.True)
            {
                throw Error(source, $"model.{flag}=true is not supported (expected false)");
            }
        }
        foreach (string affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (model.TryGetProperty(affix, out JsonElement v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0)
            {
                throw Error(source, $"model.{affix} '{v.GetString()}' is not supported (expected null: byte-level BPE has no word affixes)");
            }
        }
    }

    private static void CheckNormalizer(JsonElement root, string? source)
    {
        if (root.TryGetProperty("normalizer", out JsonElement n) && n.ValueKind != JsonValueKind.Null)
        {
            throw Error(source, $"normalizer '{TypeOf(n)}' is not supported (expected null: byte-level BPE needs no normalizer)");
        }
    }

    /// <summary>
    /// The split pattern the pre-tokenizer amounts to. Supported, as Hugging Face writes them:
    /// <c>ByteLevel</c> with use_regex (GPT-2's pattern), or a <c>Sequence</c> of a <c>Split</c> (Regex or String
    /// pattern, behavior Isolated, not inverted) and a <c>ByteLevel</c> without use_regex.
    /// </summary>
    private static string ReadSplitPattern(JsonElement root, string? source)
    {
        if (!root.TryGetProperty("pre_tokenizer", out JsonElement p) || p.ValueKind == JsonValueKind.Null)
        {
            throw Error(source, "field 'pre_tokenizer' is missing (expected 'ByteLevel': only byte-level BPE is supported)");
        }
        List<JsonElement> parts = TypeOf(p) == "Sequence" && p.TryGetProperty("pretokenizers", out JsonElement seq) && seq.ValueKind == JsonValueKind.Array
            ? [.. seq.EnumerateArray()]
            : [p];
        string[] types = [.. parts.Select(TypeOf)];
        if (types is ["ByteLevel"])
        {
            CheckByteLevel(parts[0], useRegex: true, source);
            return ByteLevel.SplitPattern;
        }
        if (types is ["Split", "ByteLevel"])
        {
            CheckByteLevel(parts[1], useRegex: false, source);
            return ReadSplit(parts[0], source);
        }
        throw Error(source, $"pre_tokenizer [{string.Join(", ", types)}] is not supported (expected 'ByteLevel', or 'Split' then 'ByteLevel')");
    }

    private static void CheckByteLevel(JsonElement byteLevel, bool useRegex, string? source)
    {
        if (byteLevel.TryGetProperty("add_prefix_space", out JsonElement aps) && aps.ValueKind == JsonValueKind.True)
        {
            throw Error(source, "pre_tokenizer ByteLevel add_prefix_space=true is not supported (expected false; it would change the text on a round trip)");
        }
        bool found = !byteLevel.TryGetProperty("use_regex", out JsonElement u) || u.ValueKind != JsonValueKind.False;  // Hugging Face's default is true
        if (found != useRegex)
        {
            throw Error(source, useRegex
                ? "pre_tokenizer ByteLevel use_regex=false needs a Split pre-tokenizer before it (expected use_regex=true)"
                : "pre_tokenizer ByteLevel after a Split must have use_regex=false (two split patterns are not supported)");
        }
    }

    private static string ReadSplit(JsonElement split, string? source)
    {
        string? behavior = split.TryGetProperty("behavior", out JsonElement b) ? b.GetString() : null;
        if (behavior != "Isolated") throw Error(source, $"pre_tokenizer Split behavior '{behavior}' is not supported (expected 'Isolated')");
        if (split.TryGetProperty("invert", out JsonElement inv) && inv.ValueKind == JsonValueKind.True)
        {
            throw Error(source, "pre_tokenizer Split invert=true is not supported (expected false)");
        }
        if (split.TryGetProperty("pattern", out JsonElement pattern) && pattern.ValueKind == JsonValueKind.Object)
        {
            if (pattern.TryGetProperty("Regex", out JsonElement regex) && regex.ValueKind == JsonValueKind.String)
            {
                string text = regex.GetString()!;
                try
                {
                    _ = new System.Text.RegularExpressions.Regex(text);
                }
                catch (ArgumentException e)
                {
                    throw Error(source, $"pre_tokenizer Split pattern '{text}' is not a .NET regular expression ({e.Message})");
                }
                return text;
            }
            if (pattern.TryGetProperty("String", out JsonElement literal) && literal.ValueKind == JsonValueKind.String && literal.GetString()!.Length > 0)
            {
                return System.Text.RegularExpressions.Regex.Escape(literal.GetString()!);
            }
        }
        throw Error(source, "pre_tokenizer Split: expected 'pattern' with a 'Regex' or a non-empty 'String'");
    }

    private static string TypeOf(JsonElement e) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out JsonElement t) ? t.ToString() : e.ValueKind.ToString();

    private static Dictionary<string, int> ReadVocab(JsonElement model, string? source)
    {
        if (!model.TryGetProperty("vocab", out JsonElement v) || v.ValueKind == JsonValueKind.Null)
        {
            throw Error(source, "field 'model.vocab' is missing (expected an object mapping token to id)");
        }
        if (v.ValueKind != JsonValueKind.Object) throw Error(source, $"model.vocab: expected an object mapping token to id, found {v.ValueKind}");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var seen = new Dictionary<int, string>();
        foreach (JsonProperty p in v.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
            {
                throw Error(source, $"model.vocab['{p.Name}']: expected a non-negative integer id, found {p.Value}");
            }
            if (seen.TryGetValue(id, out string? other)) throw Error(source, $"model.vocab: id {id} is used by both '{other}' and '{p.Name}'");
            seen[id] = p.Name;
            vocab[p.Name] = id;
        }
        return vocab;
    }

    private static List<AddedToken> ReadAddedTokens(JsonElement root, string? source)
    {
        var added = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out JsonElement a) || a.ValueKind == JsonValueKind.Null) return added;
        if (a.ValueKind != JsonValueKind.Array) throw Error(source, $"added_tokens: expected an array, found {a.ValueKind}");
        int i = 0;
        foreach (JsonElement t in a.EnumerateArray())
        {
            if (t.ValueKind != JsonValueKind.Object
                || !t.TryGetProperty("id", out JsonElement id) || !id.TryGetInt32(out int idValue) || idValue < 0
                || !t.TryGetProperty("content", out JsonElement content) || content.ValueKind != JsonValueKind.String)
            {
                throw Error(source, $"added_tokens[{i}]: expected an object with an integer 'id' and a string 'content', found {t}");
            }
            bool special = !t.TryGetProperty("special", out JsonElement s) || s.ValueKind != JsonValueKind.False;
            added.Add(new AddedToken(idValue, content.GetString()!, special));
            i++;
        }
        return added;
    }

    private static List<(string, string)> ReadMerges(JsonElement model, Dictionary<string, int> vocab, string? source)
    {
        if (!model.TryGetProperty("merges", out JsonElement m) || m.ValueKind == JsonValueKind.Null)
        {
            throw Error(source, "field 'model.merges' is missing (expected an array of \"left right\" strings)");
        }
        if (m.ValueKind != JsonValueKind.Array) throw Error(source, $"model.merges: expected an array, found {m.ValueKind}");
        var merges = new List<(string, string)>(m.GetArrayLength());
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
                throw Error(source, $"model.merges[{i}]: expected \"left right\" (two tokens separated by one space), found {e}");
            }
            foreach (string part in new[] { left, right, left + right })
            {
                if (!vocab.ContainsKey(part)) throw Error(source, $"model.merges[{i}]: token '{part}' is not in model.vocab");
            }
            merges.Add((left, right));
            i++;
        }
        return merges;
    }
}
