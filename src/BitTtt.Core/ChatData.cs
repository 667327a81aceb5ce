using System.Text.Json;
using BitTtt.Tokenization;

namespace BitTtt;

/// <summary>One conversation of a chat data file and the line it came from (1-based).</summary>
public sealed record ChatExample(int Line, IReadOnlyList<ChatTurn> Messages);

/// <summary>
/// Conversations in the OpenAI fine-tuning format: a <c>.jsonl</c> file, one JSON object per line,
/// <c>{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}</c>. Blank lines are skipped;
/// other fields are ignored, except an assistant message's <c>weight</c> (0 or 1; 0: not trained on, as in
/// OpenAI's format). Every conversation needs an assistant message (that is what training learns). A bad line is
/// one error naming the file, the line and the field: <c>chats.jsonl:7: messages[1].role must be "system", "user"
/// or "assistant", got "tool"</c>. Files are read through <see cref="TrainingText"/> (regular files, size limit,
/// UTF-8 only).
/// </summary>
public static class ChatData
{
    /// <summary>
    /// Whether <paramref name="path"/> holds conversations: its first non-blank line is a JSON object with a
    /// <c>messages</c> field. (A text file that happens to start with such a line is read as chat data; say
    /// <c>--format text</c> to train on it as text.)
    /// </summary>
    public static bool IsChatFile(string path)
    {
        using var reader = TrainingText.Open(path);
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (!line.TrimStart().StartsWith('{')) return false;
            try
            {
                using var doc = JsonDocument.Parse(line);
                return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("messages", out _);
            }
            catch (JsonException) { return false; }
        }
        return false;
    }

    /// <summary>The text of every message of the files, in order (what a tokenizer for these conversations is trained on).</summary>
    public static IEnumerable<string> Texts(IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        foreach (string path in paths)
            foreach (var example in Read(path))
                foreach (var turn in example.Messages)
                    yield return turn.Content;
    }

    /// <summary>The conversations of <paramref name="path"/>, streamed line by line; the first bad line throws.</summary>
    public static IEnumerable<ChatExample> Read(string path, BitLlamaLoadLimits? limits = null)
    {
        using var reader = TrainingText.Open(path, limits);
        int number = 0;
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            yield return new ChatExample(number, Parse(line, $"{path}:{number}"));
        }
    }

    /// <summary>
    /// One conversation: the JSON object <c>{"messages": [...]}</c> of a line, or the bare array of messages (an ML.NET
    /// messages column may hold either). Errors are <see cref="FormatException"/>s starting with <paramref name="where"/>.
    /// </summary>
    public static IReadOnlyList<ChatTurn> Parse(string json, string where) => Parse(json, where, requireAssistant: true);

    /// <summary>
    /// <see cref="Parse(string, string)"/>; with <paramref name="requireAssistant"/> false a conversation that waits for its
    /// reply (no assistant message yet, as one asked of a model) is accepted too.
    /// </summary>
    public static IReadOnlyList<ChatTurn> Parse(string json, string where, bool requireAssistant)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 }); }
        catch (JsonException e) { throw Bad(where, $"not valid JSON ({FirstSentence(e.Message)})"); }
        using (doc)
        {
            var root = doc.RootElement;
            JsonElement messages = root;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (!root.TryGetProperty("messages", out messages))
                    throw Bad(where, "field 'messages' is missing (expected {\"messages\": [{\"role\": ..., \"content\": ...}, ...]})");
            }
            else if (root.ValueKind != JsonValueKind.Array)
                throw Bad(where, $"expected an object {{\"messages\": [...]}}, found {Kind(root)}");
            if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
                throw Bad(where, $"field 'messages' must be a non-empty array of messages, found {Kind(messages)}");
            var turns = new List<ChatTurn>(messages.GetArrayLength());
            int i = 0;
            foreach (var m in messages.EnumerateArray())
            {
                turns.Add(Message(m, where, i));
                i++;
            }
            if (requireAssistant && !turns.Any(t => t.Role == ChatTurn.Assistant))
                throw Bad(where, "field 'messages' has no assistant message (a conversation trains on its assistant replies)");
            return turns;
        }
    }

    static ChatTurn Message(JsonElement m, string where, int i)
    {
        if (m.ValueKind != JsonValueKind.Object)
            throw Bad(where, $"messages[{i}] must be an object with 'role' and 'content', found {Kind(m)}");
        string role = m.TryGetProperty("role", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : "";
        if (!ChatTurn.Roles.Contains(role))
            throw Bad(where, $"messages[{i}].role must be \"system\", \"user\" or \"assistant\", got {(m.TryGetProperty("role", out var raw) ? Show(raw) : "nothing")}");
        if (!m.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String)
            throw Bad(where, $"messages[{i}].content must be a string, found {(m.TryGetProperty("content", out var rawContent) ? Kind(rawContent) : "nothing")}");
        bool train = true;
        if (m.TryGetProperty("weight", out var w))
        {
            if (w.ValueKind != JsonValueKind.Number || !w.TryGetInt32(out int weight) || weight is not (0 or 1))
                throw Bad(where, $"messages[{i}].weight must be 0 or 1, got {Show(w)}");
            train = weight == 1;
        }
        return new ChatTurn(role, c.GetString()!) { Train = train };
    }

    static FormatException Bad(string where, string message) => new($"{where}: {message}");

    static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    static string Show(JsonElement e)
    {
        string text = e.GetRawText();
        return text.Length <= 40 ? text : text[..37] + "...";
    }

    static string FirstSentence(string message)
    {
        int end = message.IndexOf(". ", StringComparison.Ordinal);
        return end > 0 ? message[..end] : message.TrimEnd('.');
    }
}
