using BitTtt.Inference;

namespace BitTtt.Extensions.AI;

/// <summary>What one chat call feeds the model (see <see cref="BitLlamaChatClient.PrepareTurn"/>).</summary>
/// <param name="Prompt">The template's text for the messages, ending with the assistant cue.</param>
/// <param name="Sampling">The call's sampling settings, the template's stop strings included.</param>
public sealed record BitLlamaChatTurn(string Prompt, SamplingOptions Sampling);
