using System.Diagnostics.Metrics;
using BitTtt.Extensions.AI;
using BitTtt.Inference;
using BitTtt.Inference.Diagnostics;
using Microsoft.Extensions.AI;

namespace BitTtt.Orleans.Tests;

/// <summary>
/// The cluster chat client against the single-process one on the same model: greedy turns give the same text, the
/// memory stored after each acknowledged turn is the single process's memory byte for byte, and a conversation
/// restored on another activation continues exactly (the repetition penalty's recent tokens included).
/// </summary>
[TestClass]
public sealed class ClusterChatTests
{
    /// <summary>Greedy, with a repetition penalty that makes the recent tokens matter.</summary>
    internal static ChatOptions Greedy(string? conversationId = null, int maxTokens = 10) =>
        new() { ConversationId = conversationId, Temperature = 0, MaxOutputTokens = maxTokens, FrequencyPenalty = 0.5f };

    internal static readonly string[] Turns = ["Who was Ishmael?", "And the whale?", "Where did the ship sail?", "Tell me more.", "What of Ahab?"];

    /// <summary>The turns' replies from one uninterrupted single-process conversation, and its memory after each turn.</summary>
    internal static async Task<(List<string> Replies, List<byte[]> Memories)> ReferenceAsync(string model, int turns)
    {
        using var llama = Llama.LoadAuto(model);
        using var chat = llama.AsChatClient();
        var replies = new List<string>();
        var memories = new List<byte[]>();
        string? id = null;
        for (int t = 0; t < turns; t++)
        {
            var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, Turns[t])], Greedy(id));
            id = response.ConversationId;
            replies.Add(response.Text);
            string file = TestModels.NewPath("reference.bttm");
            chat.SaveMemory(id!, file);
            memories.Add(File.ReadAllBytes(file));
            File.Delete(file);
        }
        return (replies, memories);
    }

    [TestMethod]
    [DataRow("reconstruct")]
    [DataRow("delta")]
    [DataRow("chat")]   // a stored chat template: the grains format with it and stop at its end of turn, as the chat client does
    public async Task ClusterTurnsGiveTheTextAndMemoryOfOneProcess(string tttType)
    {
        string model = TestModels.Of(tttType);
        using (var llama = Llama.LoadAuto(model)) Assert.AreEqual(tttType == "chat", llama.ChatFormat is not null);
        var (replies, memories) = await ReferenceAsync(model, 3);
        await using var cluster = await TestCluster.StartAsync(model);
        var chat = cluster.Client();

        var first = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, Turns[0])], Greedy());
        string id = first.ConversationId!;
        Assert.AreEqual(replies[0], first.Text);
        CollectionAssert.AreEqual(memories[0], (await cluster.StoredAsync(id)).Memory, "the memory stored when the reply arrived");

        // Streamed, through a silo's own client: pieces, then a final update sent only once the memory is stored.
        var pieces = new List<ChatResponseUpdate>();
        await foreach (var update in cluster.SiloClient(1).GetStreamingResponseAsync([new ChatMessage(ChatRole.User, Turns[1])], Greedy(id)))
            pieces.Add(update);
        Assert.AreEqual(replies[1], string.Concat(pieces.Select(p => p.Text)));
        Assert.IsNotNull(pieces[^1].FinishReason);
        Assert.IsTrue(pieces.All(p => p.ConversationId == id));
        CollectionAssert.AreEqual(memories[1], (await cluster.StoredAsync(id)).Memory);

        var third = await cluster.SiloClient(0).GetResponseAsync([new ChatMessage(ChatRole.User, Turns[2])], Greedy(id));
        Assert.AreEqual(replies[2], third.Text);
        var stored = await cluster.StoredAsync(id);
        CollectionAssert.AreEqual(memories[2], stored.Memory);
        Assert.AreEqual(3, stored.Turns);
        Assert.AreEqual(1, cluster.LiveConversations().Sum(), "one activation of the conversation in the cluster");
    }

    [TestMethod]
    [DataRow("reconstruct")]
    [DataRow("delta")]
    public async Task ADeactivatedConversationContinuesFromStorage(string tttType)
    {
        string model = TestModels.Of(tttType);
        var (replies, _) = await ReferenceAsync(model, 3);
        await using var cluster = await TestCluster.StartAsync(model);
        var chat = cluster.Client();
        var first = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, Turns[0])], Greedy());
        string id = first.ConversationId!;
        for (int t = 1; t < 3; t++)
        {
            await cluster.Cluster.DeactivateAsync(cluster.Cluster.Client.GetGrain<IConversationGrain>(id));
            Assert.AreEqual(0, cluster.LiveConversations().Sum(), "deactivated: no session held");
            var next = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, Turns[t])], Greedy(id));
            Assert.AreEqual(replies[t], next.Text, $"turn {t + 1} after the conversation was restored from storage");
        }
    }

    [TestMethod]
    public async Task EachAcknowledgedTurnRecordsOneMemorySaveOfItsSizeAndARestoreOneLoad()
    {
        // The library's meter, as OpenTelemetry's AddMeter("BitTtt") reads it: the grains' saves are tagged store=grain.
        var measured = new List<(string Instrument, double Value)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == BitLlamaTelemetry.Name && instrument.Name.StartsWith("bitttt.memory.", StringComparison.Ordinal)) l.EnableMeasurementEvents(instrument);
        };
        void Record(Instrument i, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
                if (tag.Key == BitLlamaTelemetry.MemoryStoreTag && (string?)tag.Value == BitLlamaTelemetry.GrainStore)
                    lock (measured) measured.Add((i.Name, value));
        }
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        listener.Start();
        await using var cluster = await TestCluster.StartAsync(TestModels.Delta, silos: 1);
        var chat = cluster.Client();
        string id = (await chat.GetResponseAsync([new ChatMessage(ChatRole.User, Turns[0])], Greedy())).ConversationId!;
        await chat.GetResponseAsync([new ChatMessage(ChatRole.User, Turns[1])], Greedy(id));
        int bytes = (await cluster.StoredAsync(id)).Memory.Length;
        await cluster.Cluster.DeactivateAsync(cluster.Cluster.Client.GetGrain<IConversationGrain>(id));
        await chat.GetResponseAsync([new ChatMessage(ChatRole.User, Turns[2])], Greedy(id));
        lock (measured)
        {
            Assert.AreEqual(1, measured.Count(m => m.Instrument == "bitttt.memory.loads"), "the memory restored on the next activation");
            Assert.AreEqual(3, measured.Count(m => m.Instrument == "bitttt.memory.saves"), "one save per acknowledged turn");
            Assert.AreEqual(3, measured.Count(m => m.Instrument == "bitttt.memory.save.duration" && m.Value > 0));
            Assert.IsTrue(measured.Where(m => m.Instrument == "bitttt.memory.size").All(m => m.Value == bytes), "each save records the stored memory's bytes");
            Assert.AreEqual(0, measured.Count(m => m.Instrument == "bitttt.memory.save_failures"));
        }
    }

    [TestMethod]
    public async Task IdleConversationsAreDeactivatedAndFreeTheirSession()
    {
        await using var cluster = await TestCluster.StartAsync(TestModels.Reconstruct, silos: 1, idleTimeout: TimeSpan.FromSeconds(2));
        var chat = cluster.Client();
        var first = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, Turns[0])], Greedy());
        await chat.GetResponseAsync([new ChatMessage(ChatRole.User, Turns[0])], Greedy());
        Assert.AreEqual(2, cluster.LiveConversations()[0]);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (cluster.LiveConversations()[0] > 0 && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.AreEqual(0, cluster.LiveConversations()[0], "idle conversations still held after 30 s (idle timeout 2 s)");
        Assert.IsGreaterThan(0, (await cluster.StoredAsync(first.ConversationId!)).Memory.Length, "the memory stays in storage");
    }
}
