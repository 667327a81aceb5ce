using BitTtt.Inference;
using BitTtt.Tokenization;
using Microsoft.Extensions.AI;

namespace BitTtt.Extensions.AI;

/// <summary>
/// Turns chat messages into the text a language model continues, for a model trained on a text format of its own.
/// A model trained on conversations stores its template (docs/model.md §6) and the chat client uses it without
/// one of these (<see cref="BitLlamaChatClientOptions.Template"/> left null).
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
/// The plain-text format of a model without a stored template (docs/model.md §6.4): one line per turn with a
/// plain-text role marker, then the assistant cue.
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

    public IReadOnlyList<string> StopSequences { get; } = [ChatFormat.PlainTextStop];

    /// <summary>The same text a model without a template is fed by <see cref="LlamaSession.Reply"/> (<see cref="ChatFormat.PlainTextPrompt"/>).</summary>
    public string Format(IReadOnlyList<ChatMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return ChatFormat.PlainTextPrompt(ChatRequestMapping.Turns(messages));
    }
}
