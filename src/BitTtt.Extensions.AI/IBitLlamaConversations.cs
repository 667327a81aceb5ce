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
