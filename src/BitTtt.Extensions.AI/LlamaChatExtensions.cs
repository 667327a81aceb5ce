using BitTtt.Extensions.AI;
using Microsoft.Extensions.AI;

// In the model's namespace so that `using BitTtt.Inference;` finds AsChatClient.
namespace BitTtt.Inference;

/// <summary>Microsoft.Extensions.AI for a loaded <see cref="Llama"/>.</summary>
public static class LlamaChatExtensions
{
    /// <summary>
    /// An <see cref="IChatClient"/> over this model (see <see cref="BitLlamaChatClient"/>): a template turns messages
    /// into a prompt, and each conversation's memory is a TTT session. The client does not dispose the model unless
    /// <see cref="BitLlamaChatClientOptions.OwnsModel"/> is set.
    /// </summary>
    public static BitLlamaChatClient AsChatClient(this Llama model, BitLlamaChatClientOptions? options = null) => new(model, options);
}
