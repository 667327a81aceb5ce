namespace BitTtt.Extensions.AI;

/// <summary>
/// What a service needs beyond <see cref="Microsoft.Extensions.AI.IChatClient"/> from whatever holds conversations: the
/// <see cref="BitLlamaChatClient"/> in one process, another implementation in a cluster. <c>services.AddBitLlama</c>
/// registers the chat client as this too (unless something else is registered first).
/// </summary>
public interface IChatConversations
{
    /// <summary>Empties a conversation's memory; the id stays valid. False if the id is unknown.</summary>
    bool ResetConversation(string conversationId);

    /// <summary>Conversations held in memory now.</summary>
    int LiveConversations { get; }
}
