using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BitTtt.Tokenization;

/// <summary>One message of a conversation: its role (<c>system</c>, <c>user</c> or <c>assistant</c>) and its text.</summary>
/// <param name="Role">The OpenAI role name: <see cref="System"/>, <see cref="User"/> or <see cref="Assistant"/>.</param>
/// <param name="Content">The message's text.</param>
public sealed record ChatTurn(string Role, string Content)
{
    public const string System = "system", User = "user", Assistant = "assistant";

    /// <summary>The roles a conversation may hold, in the order docs/model.md §6.1 lists their tokens.</summary>
    public static IReadOnlyList<string> Roles { get; } = [System, User, Assistant];

    /// <summary>
    /// Whether training learns this message (an assistant message; OpenAI's fine-tuning field <c>weight</c>: 0 makes
    /// it false). Other roles are never learnt unless a run trains on all tokens.
    /// </summary>
    public bool Train { get; init; } = true;
}

/// <summary>
/// A model's chat template (docs/model.md §6): the special tokens that mark each role and end a turn, and the one
/// encoding of a conversation into token ids that generation and training share. Stored in <c>config.json</c>'s
/// <see cref="ConfigField"/> field; a model without it has no template (null from <see cref="FromConfig"/>) and its
/// chat doors use <see cref="PlainTextPrompt"/>.
/// </summary>
public sealed class ChatFormat
{
    /// <summary>The config field (docs/model.md §1) that stores the template.</summary>
    public const string ConfigField = "chat";

    /// <summary>The reply of a model without a template ends where it starts the next user line (docs/model.md §6.4).</summary>
    public const string PlainTextStop = "\nUser:";

    /// <summary>The tokens a trained tokenizer reserves, in the order system, user, assistant, end of turn (docs/model.md §6.1).</summary>
    public static IReadOnlyList<string> DefaultTokens { get; } = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"];

    static readonly string[] Fields = ["system", "user", "assistant", "end_of_turn"];

    readonly string[] _tokens;   // system, user, assistant, end_of_turn
    readonly int[] _ids;

    ChatFormat(BitLlamaTokenizer tokenizer, string[] tokens, int[] ids)
    {
        Tokenizer = tokenizer;
        _tokens = tokens;
        _ids = ids;
    }

    public BitLlamaTokenizer Tokenizer { get; }

    /// <summary>The special token that ends every turn; generation of a reply stops when the model produces it.</summary>
    public int EndOfTurnId => _ids[3];

    /// <summary>The text of a template field's special token: "system", "user", "assistant" or "end_of_turn".</summary>
    public string TokenOf(string field) => _tokens[FieldIndex(field)];

    /// <summary>The marker id of <paramref name="role"/> (system, user, assistant).</summary>
    public int MarkerId(string role) => _ids[RoleIndex(role, "role")];

    /// <summary>
    /// The template with the default tokens (<see cref="DefaultTokens"/>), for a tokenizer that has them (a trained
    /// one reserves them; <see cref="BitLlamaTokenizer.WithSpecialTokens"/> adds them to another).
    /// </summary>
    public static ChatFormat Default(BitLlamaTokenizer tokenizer) => Create(tokenizer, [.. DefaultTokens], "tokenizer");

    /// <summary>
    /// The template stored in <paramref name="config"/> (field <see cref="ConfigField"/>), checked against
    /// <paramref name="tokenizer"/>; null when the config stores none. A malformed field, or a token that is not a
    /// special token of the tokenizer, is a <see cref="BitLlamaFormatException"/> naming <paramref name="source"/> and the field.
    /// </summary>
    public static ChatFormat? FromConfig(BitLlamaConfig config, BitLlamaTokenizer tokenizer, string? source)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (!config.Extra.TryGetValue(ConfigField, out var node) || node is null) return null;
        BitLlamaFormatException Bad(string message) => BitLlamaFormatException.In(source, message);
        if (node is not JsonObject obj) throw Bad($"config field '{ConfigField}' must be an object, found {node.GetValueKind()}");
        foreach (var (key, _) in obj)
            if (Array.IndexOf(Fields, key) < 0)
                throw Bad($"config field '{ConfigField}' has an unknown field '{key}' (known: {string.Join(", ", Fields)})");
        var tokens = new string[Fields.Length];
        for (int i = 0; i < Fields.Length; i++)
        {
            string field = $"{ConfigField}.{Fields[i]}";
            tokens[i] = obj[Fields[i]] switch
            {
                null => throw Bad($"config field '{field}' is missing (the template needs {string.Join(", ", Fields)})"),
                JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
                var other => throw Bad($"config field '{field}' must be a string, found {other.GetValueKind()}"),
            };
        }
        return Create(tokenizer, tokens, source, (file, message) => BitLlamaFormatException.In(file, message));
    }

    static ChatFormat Create(BitLlamaTokenizer tokenizer, string[] tokens, string? source,
        Func<string?, string, Exception>? error = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        error ??= (_, message) => new ArgumentException(message, nameof(tokenizer));
        var ids = new int[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            ids[i] = tokenizer.SpecialTokenId(tokens[i])
                ?? throw error(source, $"config field '{ConfigField}.{Fields[i]}': '{tokens[i]}' is not a special token of the tokenizer " +
                    "(a trained tokenizer reserves the chat tokens; add them with BitLlamaTokenizer.WithSpecialTokens)");
            int same = Array.IndexOf(ids, ids[i], 0, i);
            if (same >= 0)
                throw error(source, $"config field '{ConfigField}.{Fields[i]}': '{tokens[i]}' is also '{ConfigField}.{Fields[same]}'; the four tokens must differ");
        }
        return new ChatFormat(tokenizer, tokens, ids);
    }

    /// <summary><paramref name="config"/> with this template stored in its <see cref="ConfigField"/> field (other fields kept).</summary>
    public BitLlamaConfig StoreIn(BitLlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var stored = new JsonObject();
        for (int i = 0; i < Fields.Length; i++) stored[Fields[i]] = _tokens[i];
        return config with { Extra = new Dictionary<string, JsonNode?>(config.Extra) { [ConfigField] = stored } };
    }

    /// <summary>
    /// The ids of <paramref name="messages"/>: per message its role's marker, its text encoded as plain text (a special
    /// token's string in it stays text) and the end of turn (docs/model.md §6.3).
    /// </summary>
    public int[] Encode(IReadOnlyList<ChatTurn> messages)
    {
        var ids = new List<int>();
        Append(messages, ids, null, trainOnAll: false);
        return [.. ids];
    }

    /// <summary>The prompt of a reply: <see cref="Encode"/> then the assistant's marker.</summary>
    public int[] EncodeReply(IReadOnlyList<ChatTurn> messages)
    {
        var ids = new List<int>();
        Append(messages, ids, null, trainOnAll: false);
        ids.Add(MarkerId(ChatTurn.Assistant));
        return [.. ids];
    }

    /// <summary>
    /// A conversation for training: its ids (<see cref="Encode"/>) and, per id, whether the loss counts its prediction:
    /// the content tokens of every assistant message (unless <see cref="ChatTurn.Train"/> is false) and the end of
    /// turn that closes it; with <paramref name="trainOnAll"/> every id but the first.
    /// </summary>
    public (int[] Ids, bool[] Targets) EncodeForTraining(IReadOnlyList<ChatTurn> messages, bool trainOnAll = false)
    {
        var ids = new List<int>();
        var targets = new List<bool>();
        Append(messages, ids, targets, trainOnAll);
        if (targets.Count > 0) targets[0] = false;   // the first token has nothing before it to predict it from
        return ([.. ids], [.. targets]);
    }

    void Append(IReadOnlyList<ChatTurn> messages, List<int> ids, List<bool>? targets, bool trainOnAll)
    {
        ArgumentNullException.ThrowIfNull(messages);
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i] ?? throw new ArgumentException($"messages[{i}] is null", nameof(messages));
            int role = RoleIndex(m.Role, $"messages[{i}].role");
            int[] text = Tokenizer.Encode(m.Content ?? throw new ArgumentException($"messages[{i}].content is null", nameof(messages)), parseSpecialTokens: false);
            bool learnt = trainOnAll || m.Role == ChatTurn.Assistant && m.Train;
            ids.Add(_ids[role]);
            ids.AddRange(text);
            ids.Add(EndOfTurnId);
            if (targets is null) continue;
            targets.Add(trainOnAll);
            for (int t = 0; t < text.Length; t++) targets.Add(learnt);
            targets.Add(learnt);
        }
    }

    /// <summary>
    /// The prompt a model without a template gets for <paramref name="messages"/> (docs/model.md §6.4): one line per
    /// message, <c>System: </c>, <c>User: </c> or <c>Assistant: </c> and the text, then the cue <c>Assistant:</c>;
    /// the reply stops at <see cref="PlainTextStop"/>.
    /// </summary>
    public static string PlainTextPrompt(IReadOnlyList<ChatTurn> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var text = new StringBuilder();
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i] ?? throw new ArgumentException($"messages[{i}] is null", nameof(messages));
            text.Append(PlainTextMarker(m.Role, $"messages[{i}].role")).Append(": ").Append(m.Content).Append('\n');
        }
        return text.Append("Assistant:").ToString();
    }

    static string PlainTextMarker(string role, string where) => RoleIndex(role, where) switch
    {
        0 => "System",
        1 => "User",
        _ => "Assistant",
    };

    static int RoleIndex(string? role, string where)
    {
        int index = role is null ? -1 : Array.IndexOf(Fields, role, 0, 3);
        if (index < 0) throw new ArgumentException($"{where}: role '{role}' is not supported (expected system, user or assistant)", "messages");
        return index;
    }

    static int FieldIndex(string field)
    {
        int index = Array.IndexOf(Fields, field);
        if (index < 0) throw new ArgumentException($"'{field}' is not a field of the chat template (expected {string.Join(", ", Fields)})", nameof(field));
        return index;
    }
}
