using BitTtt.Inference;
using BitTtt.Tokenization;

namespace BitTtt.Extensions.AI;

/// <summary>
/// The conversations a chat client keeps, beyond what <see cref="Microsoft.Extensions.AI.IChatClient"/> says: how many
/// this process holds and how to empty one. <see cref="BitLlamaChatClient"/> keeps them in this process; the cluster chat
/// client of BitTtt.Orleans keeps them in grains. A web app's endpoints depend on this and on <c>IChatClient</c>, so
/// swapping the registration moves them from one process to a cluster.
/// </summary>
public interface IBitLlamaConversations
{
    /// <summary>Conversations whose memory this process holds in RAM now.</summary>
    int LiveConversations { get; }

    /// <summary>
    /// Empties a conversation's memory; the id stays valid. False if the id is unknown; <see cref="ArgumentException"/>
    /// for an id that is not valid (<see cref="BitLlamaChatClient.ValidateConversationId"/>); <see cref="InvalidOperationException"/>
    /// while the conversation is answering another call.
    /// </summary>
    Task<bool> ResetConversationAsync(string conversationId, CancellationToken cancellationToken = default);
}

/// <summary>
/// What one chat call feeds the model (see <see cref="BitLlamaChatClient.PrepareTurn"/>), and the one way to run it on a
/// session: <see cref="RunAsync"/> / <see cref="RunStreamingAsync"/>. Whoever holds the session (this client, the
/// conversation grains of a cluster) runs the turn through them, so the model's chat template (docs/model.md §6), its
/// end-of-turn stop and a caller's own <see cref="IChatTemplate"/> apply alike everywhere.
/// </summary>
/// <param name="Messages">The messages (Instructions first, as a system turn), as the model's chat turns.</param>
/// <param name="Prompt">
/// The text of a caller's <see cref="IChatTemplate"/> for the messages (ending with its assistant cue); null when the
/// model's own format applies (<see cref="LlamaSession.Reply"/>: its stored template, else the plain-text format).
/// </param>
/// <param name="Sampling">The call's sampling settings (a caller's template's stop strings included).</param>
public sealed record BitLlamaChatTurn(IReadOnlyList<ChatTurn> Messages, string? Prompt, SamplingOptions Sampling)
{
    /// <summary>Runs the turn on <paramref name="session"/>: the reply, fed back into its memory.</summary>
    public Task<LlamaCompletion> RunAsync(LlamaSession session, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        return Prompt is { } prompt ? session.GenerateAsync(prompt, Sampling, cancellationToken) : session.ReplyAsync(Messages, Sampling, cancellationToken);
    }

    /// <summary><see cref="RunAsync"/>, streamed (the last update carries the finish reason and token counts).</summary>
    public IAsyncEnumerable<LlamaCompletionUpdate> RunStreamingAsync(LlamaSession session, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        return Prompt is { } prompt
            ? session.GenerateStreamingAsync(prompt, Sampling, cancellationToken)
            : session.ReplyStreamingAsync(Messages, Sampling, cancellationToken);
    }
}
