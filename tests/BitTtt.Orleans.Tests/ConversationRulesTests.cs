using BitTtt.Extensions.AI;
using BitTtt.Inference;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using static BitTtt.Orleans.Tests.ClusterChatTests;

namespace BitTtt.Orleans.Tests;

/// <summary>
/// The single-process client's rules kept on a cluster (busy, unknown, invalid, reset, one-off calls), and what is
/// kept when a turn is not acknowledged: a cancelled stream, a storage outage, a retried call.
/// </summary>
[TestClass]
public sealed class ConversationRulesTests
{
    static TestCluster s_cluster = null!;

    [ClassInitialize]
    public static async Task Start(TestContext _) => s_cluster = await TestCluster.StartAsync(TestModels.Reconstruct);

    [ClassCleanup]
    public static async Task Stop() => await s_cluster.DisposeAsync();

    static ChatMessage[] User(string text) => [new ChatMessage(ChatRole.User, text)];

    [TestMethod]
    public async Task ASecondTurnWhileOneRunsIsBusyAsInOneProcess()
    {
        var chat = s_cluster.Client();
        string id = (await chat.GetResponseAsync(User(Turns[0]), Greedy())).ConversationId!;
        await using var running = chat.GetStreamingResponseAsync(User(Turns[1]), Greedy(id, maxTokens: 40)).GetAsyncEnumerator();
        Assert.IsTrue(await running.MoveNextAsync(), "the first turn is under way");
        var busy = await Assert.ThrowsExactlyAsync<InvalidOperationException>(() => s_cluster.SiloClient(0).GetResponseAsync(User("Hello?"), Greedy(id)));
        StringAssert.Contains(busy.Message, "already in use");
        await Assert.ThrowsExactlyAsync<InvalidOperationException>(() => chat.ResetConversationAsync(id));
        while (await running.MoveNextAsync()) { }
        var free = await chat.GetResponseAsync(User("Hello?"), Greedy(id));
        Assert.AreEqual(id, free.ConversationId, "free again once the first turn ended");
    }

    [TestMethod]
    public async Task UnknownAndInvalidAreTheSingleProcessErrors()
    {
        var chat = s_cluster.Client();
        var unknown = await Assert.ThrowsExactlyAsync<ConversationNotFoundException>(() => chat.GetResponseAsync(User("Hi"), Greedy("never-started")));
        Assert.AreEqual("never-started", unknown.ConversationId);
        StringAssert.Contains(unknown.Message, "conversation 'never-started' is unknown");
        await Assert.ThrowsExactlyAsync<ConversationNotFoundException>(async () =>
        {
            await foreach (var _ in chat.GetStreamingResponseAsync(User("Hi"), Greedy("never-started"))) { }
        });
        var badId = await Assert.ThrowsExactlyAsync<ArgumentException>(() => chat.GetResponseAsync(User("Hi"), Greedy("no spaces")));
        StringAssert.Contains(badId.Message, "ConversationId 'no spaces' is not valid");

        // The silo's chat client checks messages and options, with the messages of the single-process client.
        using var llama = Llama.LoadAuto(s_cluster.Model);
        using var local = llama.AsChatClient();
        foreach (var (messages, options) in new (ChatMessage[], ChatOptions)[]
        {
            (User("Hi"), new ChatOptions { Temperature = -1 }),
            (User("Hi"), new ChatOptions { TopP = 2 }),
            ([new ChatMessage(ChatRole.Assistant, "Hello")], new ChatOptions()),
            ([new ChatMessage(new ChatRole("tool"), "x")], new ChatOptions()),
            ([new ChatMessage(ChatRole.User, " ")], new ChatOptions()),
        })
        {
            var expected = await Assert.ThrowsAsync<ArgumentException>(() => local.GetResponseAsync(messages, options));
            var actual = await Assert.ThrowsAsync<ArgumentException>(() => chat.GetResponseAsync(messages, options));
            Assert.AreEqual(expected.Message, actual.Message);
            Assert.AreEqual(expected.ParamName, actual.ParamName);
        }
        Assert.AreEqual(0, (await s_cluster.StoredAsync("never-started")).Memory.Length, "an unknown id stores nothing");
    }

    [TestMethod]
    public async Task ResetEmptiesTheStoredMemoryAndKeepsTheId()
    {
        var chat = s_cluster.Client();
        var first = await chat.GetResponseAsync(User(Turns[0]), Greedy());
        string id = first.ConversationId!;
        await chat.GetResponseAsync(User(Turns[1]), Greedy(id));
        Assert.IsTrue(await chat.ResetConversationAsync(id));
        Assert.IsFalse(await chat.ResetConversationAsync("never-started"));
        var again = await chat.GetResponseAsync(User(Turns[0]), Greedy(id));
        Assert.AreEqual(first.Text, again.Text, "after a reset the conversation answers as a new one");
        Assert.AreEqual(id, again.ConversationId);
    }

    /// <summary>Greedy, with the call's <see cref="BitLlamaChatClient.StartConversationKey"/> when <paramref name="start"/> is given.</summary>
    static ChatOptions Asking(bool? start)
    {
        var options = Greedy();
        if (start is { } s) options.AdditionalProperties = new() { [BitLlamaChatClient.StartConversationKey] = s };
        return options;
    }

    [TestMethod]
    public async Task AOneOffCallStoresNothingAndEachCallMaySayWhetherToStartAConversation()
    {
        var (replies, _) = await ReferenceAsync(s_cluster.Model, 1);
        var gateway = s_cluster.Client(new BitLlamaClusterChatClientOptions { StartConversations = false, FailoverTimeout = TimeSpan.FromSeconds(30) });
        var silo = s_cluster.SiloClient(0);   // StartConversations: true, the default
        string? keys = await s_cluster.Redis.SendAsync("DBSIZE");
        int live = s_cluster.LiveConversations().Sum();
        // On a silo a one-off call runs on the silo's own model: no grain is activated.
        await AssertOneOff(silo, Asking(false));
        Assert.AreEqual(live, s_cluster.LiveConversations().Sum(), "a one-off call on a silo took a grain");
        // Through a gateway (an Orleans client with no model) it runs on a grain that keeps nothing.
        await AssertOneOff(gateway, Asking(null));
        await AssertOneOff(gateway, Asking(false));
        Assert.AreEqual(keys, await s_cluster.Redis.SendAsync("DBSIZE"), "one-off calls store nothing");

        var started = await gateway.GetResponseAsync(User(Turns[0]), Asking(true));
        Assert.IsNotNull(started.ConversationId, "asked to start a conversation, whatever the client's default");
        Assert.IsGreaterThan(0, (await s_cluster.StoredAsync(started.ConversationId!)).Memory.Length);

        async Task AssertOneOff(BitLlamaClusterChatClient chat, ChatOptions options)
        {
            var reply = await chat.GetResponseAsync(User(Turns[0]), options);
            Assert.IsNull(reply.ConversationId);
            Assert.AreEqual(replies[0], reply.Text);
            var updates = new List<ChatResponseUpdate>();
            await foreach (var update in chat.GetStreamingResponseAsync(User(Turns[0]), options)) updates.Add(update);
            Assert.AreEqual(replies[0], string.Concat(updates.Select(u => u.Text)));
            Assert.IsTrue(updates.All(u => u.ConversationId is null));
        }
    }

    [TestMethod]
    public async Task AConversationStartedOnAResentHistoryReportsThePrefixCachesTokensAsOneProcessDoes()
    {
        // A one-off call on a silo leaves its state in that silo's prefix cache; a conversation started there on the
        // resent history begins from it (its grain is placed on the calling silo), and the grain reports the tokens it
        // did not feed, as the single-process client does.
        using var llama = Llama.LoadAuto(s_cluster.Model);
        llama.EnablePrefixCache();
        using var local = llama.AsChatClient();
        var silo = s_cluster.SiloClient(0);
        List<ChatMessage> history = [new(ChatRole.User, "What did Queequeg carry?")];
        var expectedFirst = await local.GetResponseAsync(history, Asking(false));
        var first = await silo.GetResponseAsync(history, Asking(false));
        Assert.AreEqual(expectedFirst.Text, first.Text);
        history.AddRange(first.Messages);
        history.Add(new ChatMessage(ChatRole.User, "And then?"));
        var expected = await local.GetResponseAsync(history, Asking(true));
        var started = await silo.GetResponseAsync(history, Asking(true));
        Assert.AreEqual(expected.Text, started.Text);
        Assert.IsGreaterThan(0L, started.Usage!.CachedInputTokenCount!.Value, "the resent history came from the prefix cache");
        Assert.AreEqual(expected.Usage!.CachedInputTokenCount, started.Usage.CachedInputTokenCount);
        Assert.AreEqual(expected.Usage.InputTokenCount, started.Usage.InputTokenCount);
    }

    [TestMethod]
    public async Task ACancelledStreamLeavesTheMemoryOfTheLastAcknowledgedTurn()
    {
        var (replies, memories) = await ReferenceAsync(s_cluster.Model, 2);
        var chat = s_cluster.Client();
        string id = (await chat.GetResponseAsync(User(Turns[0]), Greedy())).ConversationId!;
        using (var cancel = new CancellationTokenSource())
        {
            await using var stream = chat.GetStreamingResponseAsync(User("Something else entirely"), Greedy(id, maxTokens: 40), cancel.Token)
                .GetAsyncEnumerator();
            Assert.IsTrue(await stream.MoveNextAsync());
            cancel.Cancel();
            await Assert.ThrowsAsync<OperationCanceledException>(async () => { while (await stream.MoveNextAsync()) { } });
        }
        CollectionAssert.AreEqual(memories[0], (await s_cluster.StoredAsync(id)).Memory);
        var second = await WhenFree(() => chat.GetResponseAsync(User(Turns[1]), Greedy(id)));
        Assert.AreEqual(replies[1], second.Text, "the cancelled turn left nothing in the memory");
    }

    [TestMethod]
    public async Task ARetriedCallGetsTheStoredReplyInsteadOfASecondTurn()
    {
        var chat = s_cluster.Client();
        string id = (await chat.GetResponseAsync(User(Turns[0]), Greedy())).ConversationId!;
        var grain = s_cluster.Cluster.Client.GetGrain<IConversationGrain>(id);
        var turn = new ConversationTurn { TurnId = "retried-call", Messages = [new ConversationMessage("user", Turns[1])], Temperature = 0, MaxOutputTokens = 10 };
        var reply = await grain.SendAsync(turn);
        var stored = await s_cluster.StoredAsync(id);
        var again = await grain.SendAsync(turn);
        Assert.AreEqual(reply.Text, again.Text);
        Assert.AreEqual(reply.CompletionTokens, again.CompletionTokens);
        var afterRetry = await s_cluster.StoredAsync(id);
        Assert.AreEqual(stored.Turns, afterRetry.Turns, "the retry ran no turn");
        CollectionAssert.AreEqual(stored.Memory, afterRetry.Memory);
        var streamed = new List<ConversationUpdate>();
        await foreach (var u in grain.StreamAsync(turn)) streamed.Add(u);
        Assert.AreEqual(reply.Text, string.Concat(streamed.Select(u => u.Text)));
        Assert.IsTrue(streamed[^1].Final);
    }

    [TestMethod]
    public async Task WhileStorageIsDownTurnsAreRefusedAndNothingOfThemIsKept()
    {
        await using var cluster = await TestCluster.StartAsync(TestModels.Delta, silos: 1);
        var (replies, memories) = await ReferenceAsync(cluster.Model, 2);
        var chat = cluster.Client();
        var health = cluster.Cluster.GetSiloServiceProvider().GetRequiredService<HealthCheckService>();
        string id = (await chat.GetResponseAsync(User(Turns[0]), Greedy())).ConversationId!;
        Assert.AreEqual(HealthStatus.Healthy, (await health.CheckHealthAsync()).Status);

        await cluster.Redis.StopAsync();
        var refused = await Assert.ThrowsExactlyAsync<ConversationUnavailableException>(() => chat.GetResponseAsync(User(Turns[1]), Greedy(id)));
        Assert.AreEqual(id, refused.ConversationId);
        StringAssert.Contains(refused.Message, "could not be written to grain storage");
        await Assert.ThrowsExactlyAsync<ConversationUnavailableException>(() => chat.GetResponseAsync(User(Turns[0]), Greedy()));
        var report = await health.CheckHealthAsync();
        Assert.AreEqual(HealthStatus.Unhealthy, report.Entries["conversation-storage"].Status);
        Assert.AreEqual(HealthStatus.Healthy, report.Entries["orleans-silo"].Status);

        await cluster.Redis.StartAgainAsync();
        var recovery = System.Diagnostics.Stopwatch.StartNew();
        while ((await health.CheckHealthAsync()).Status != HealthStatus.Healthy)
        {
            Assert.IsLessThan(TimeSpan.FromSeconds(30), recovery.Elapsed, "the storage check still fails 30 s after Redis came back");
            await Task.Delay(200);
        }
        var second = await chat.GetResponseAsync(User(Turns[1]), Greedy(id));
        Assert.AreEqual(replies[1], second.Text, "the refused turn left nothing in the memory");
        CollectionAssert.AreEqual(memories[1], (await cluster.StoredAsync(id)).Memory);
    }

    /// <summary>A cancelled turn ends on the silo a moment after the caller stops: retry "busy" briefly.</summary>
    static async Task<T> WhenFree<T>(Func<Task<T>> call)
    {
        for (int i = 0; ; i++)
        {
            try { return await call(); }
            catch (InvalidOperationException e) when (e.Message.Contains("already in use") && i < 50) { await Task.Delay(100); }
        }
    }
}
