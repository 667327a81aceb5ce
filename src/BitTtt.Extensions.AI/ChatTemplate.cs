using Microsoft.Extensions.AI;

namespace BitTtt.Extensions.AI;

/// <summary>
/// Turns chat messages into the text a base language model continues. BitLlama is a base LM (no chat
/// fine-tuning), so the template is the whole "chat format": replace it to match how your model was trained.
/// </summary>
public interface IChatTemplate
{
    /// <summary>
    /// The text to feed for <paramref name="messages"/> (in a continuing conversation: only the new ones),
    /// ending with the cue after which the model writes the assistant's reply.
    /// </summary>
    string Format(IReadOnlyList<ChatMessage> messages);

    /// <summary>Where a reply ends (e.g. the next user marker); added to the request's own stop sequences.</summary>
    IReadOnlyList<string> StopSequences { get; }
}

/// <summary>
/// The default template: one line per turn with a plain-text role marker, then the assistant cue.
/// <code>
/// System: You answer briefly.
/// User: Where did the whale swim?
/// Assistant:
/// </code>
/// The reply stops at <c>"\nUser:"</c> (the model starting the next user turn), which is not part of the reply.
/// Roles other than system, user and assistant are rejected.
/// </summary>
public sealed class PlainTextChatTemplate : IChatTemplate
{
    public static PlainTextChatTemplate Instance { get; } = new();

    public IReadOnlyList<string> StopSequences { get; } = ["\nUser:"];

    public string Format(IReadOnlyList<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var text = new System.Text.StringBuilder();
        foreach (var m in messages)
            text.Append(Marker(m.Role)).Append(": ").Append(m.Text).Append('\n');
        return text.Append("Assistant:").ToString();
    }

    static string Marker(ChatRole role) =>
        role == ChatRole.System ? "System" : role == ChatRole.User ? "User" : role == ChatRole.Assistant ? "Assistant"
        : throw new ArgumentException($"messages: role '{role}' is not supported (expected system, user or assistant)", "messages");
}
