using BitTtt.Inference.Diagnostics;

namespace BitTtt.Orleans;

/// <summary>Names a silo's configuration must use for BitLlama's conversations.</summary>
public static class BitLlamaCluster
{
    /// <summary>
    /// The grain storage the conversation grains write to. Register it with any Orleans provider under this name, e.g.
    /// <c>silo.AddRedisGrainStorage(BitLlamaCluster.StorageName, ...)</c>, or in configuration as
    /// <c>Orleans:GrainStorage:bitllama:ProviderType</c>.
    /// </summary>
    public const string StorageName = "bitllama";

    /// <summary>
    /// A keyed <c>IGrainStorageSerializer</c> that <see cref="BitLlamaSiloBuilderExtensions.AddBitLlamaConversations"/>
    /// registers: Orleans' binary serializer, so a conversation's memory is stored as raw bytes. Providers that take a
    /// <c>SerializerKey</c> setting (Redis does) can name it; their default JSON serializer writes the bytes as base64
    /// (a third larger).
    /// </summary>
    public const string BinarySerializerKey = "bitllama-binary";
}

/// <summary>Settings of the conversation grains on a silo (<see cref="BitLlamaSiloBuilderExtensions.AddBitLlamaConversations"/>).</summary>
public sealed class BitLlamaClusterOptions
{
    /// <summary>
    /// A conversation that receives no call for this long is deactivated and its session freed; its memory stays in grain
    /// storage and the next turn restores it on whichever silo takes the call. Default 5 minutes.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>Settings of <see cref="BitLlamaClusterChatClient"/>.</summary>
public sealed class BitLlamaClusterChatClientOptions
{
    /// <summary>
    /// How long a call keeps retrying while the silo holding its conversation is unreachable (killed, and not yet declared
    /// dead by the cluster); after that it fails with <see cref="ConversationUnavailableException"/>. Match it to the
    /// cluster's failure detection (Orleans' <c>ClusterMembershipOptions</c>). Default 60 seconds.
    /// </summary>
    public TimeSpan FailoverTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// A call without ConversationId starts a conversation kept in the cluster and returns its id (true, default);
    /// false runs it on a fresh memory that is dropped afterwards (nothing is stored).
    /// </summary>
    public bool StartConversations { get; set; } = true;

    /// <summary>Reported as the client's model id before any reply names the silo's; null: "bitllama".</summary>
    public string? ModelId { get; set; }
}

/// <summary>
/// How many conversation grains this silo holds now (each one a live session), also recorded as the library's
/// <c>bitttt.conversations.live</c>, as a single process's chat client records the conversations it holds.
/// </summary>
internal sealed class ConversationActivations
{
    int _count;

    public int Count => Volatile.Read(ref _count);

    public void Activated()
    {
        Interlocked.Increment(ref _count);
        BitLlamaTelemetry.LiveConversations.Add(1);
    }

    public void Deactivated()
    {
        Interlocked.Decrement(ref _count);
        BitLlamaTelemetry.LiveConversations.Add(-1);
    }
}
