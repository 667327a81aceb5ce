using BitTtt.Inference;
using BitTtt.Tokenization;

namespace BitTtt.Extensions.AI;

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
