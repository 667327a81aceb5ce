using Microsoft.ML;
using BitTtt.Inference;
using BitTtt.MLNet;
using Microsoft.Extensions.AI;

namespace BitTtt.Extensions.AI.Tests;

[TestClass]
public sealed class ChatClientTests
{
    static Llama _llama = null!;

    [ClassInitialize]
    public static void Load(TestContext _) => _llama = Llama.LoadAuto(TestModel.BittPath);

    [ClassCleanup]
    public static void Unload() => _llama.Dispose();

    static readonly ChatOptions Sampled = new() { Temperature = 0.9f, TopK = 20, TopP = 0.95f, Seed = 11, MaxOutputTokens = 20 };
    static List<ChatMessage> Ask(string text) => [new(ChatRole.User, text)];
    static ChatOptions Greedy(int max, string? id = null) => new() { Temperature = 0, MaxOutputTokens = max, ConversationId = id };
    static SamplingOptions EngineGreedy(int max) =>   // what Greedy(max) means to the engine with the client's default penalty and template stop
        SamplingOptions.Greedy(max) with { RepetitionPenalty = new SamplingOptions().RepetitionPenalty, StopStrings = ["\nUser:"] };

    [TestMethod]
    public async Task ResponseCarriesTextUsageFinishReasonAndMetadata()
    {
        using var client = _llama.AsChatClient();
        IChatClient chat = client;
        var response = await chat.GetResponseAsync(Ask("Where did the whale go?"), new ChatOptions { MaxOutputTokens = 5, Temperature = 0 });
        Assert.AreEqual(ChatFinishReason.Length, response.FinishReason);
        Assert.AreEqual(5L, response.Usage!.OutputTokenCount);
        string prompt = PlainTextChatTemplate.Instance.Format(Ask("Where did the whale go?"));
        Assert.AreEqual((long)_llama.Tokenizer.Encode(prompt).Length, response.Usage.InputTokenCount);
        Assert.AreEqual(response.Usage.InputTokenCount + 5, response.Usage.TotalTokenCount);
        Assert.AreEqual(ChatRole.Assistant, response.Messages.Single().Role);
        Assert.AreEqual(_llama.Complete(prompt, EngineGreedy(5)), response.Text);
        var metadata = (ChatClientMetadata)chat.GetService(typeof(ChatClientMetadata))!;
        Assert.AreEqual("bitllama", metadata.ProviderName);
        Assert.AreEqual("tiny-chat", metadata.DefaultModelId);
        Assert.AreEqual("tiny-chat", response.ModelId);
        Assert.AreSame(_llama, chat.GetService(typeof(Llama)));
        Assert.IsNotNull(response.ConversationId);
    }

    [TestMethod]
    public async Task PrepareTurnIsWhatACallFeeds()
    {
        using var client = _llama.AsChatClient(new BitLlamaChatClientOptions { Defaults = _llama.DefaultSampling with { TopK = 7 } });
        var options = new ChatOptions { Instructions = "Be brief.", MaxOutputTokens = 6, Temperature = 0, StopSequences = ["."] };
        var turn = client.PrepareTurn(Ask("Where did the whale go?"), options);
        // The model has no template: the turn is its messages in the model's own (plain-text) format, run by Reply.
        Assert.IsNull(turn.Prompt);
        CollectionAssert.AreEqual(new[] { "system", "user" }, turn.Messages.Select(m => m.Role).ToArray());
        Assert.AreEqual("Be brief.", turn.Messages[0].Content);
        Assert.AreEqual(7, turn.Sampling.TopK, "the client's defaults under the options");
        CollectionAssert.AreEquivalent(new[] { "." }, turn.Sampling.StopStrings.ToArray());
        using var session = _llama.CreateSession();
        var byHand = session.Generate(PlainTextChatTemplate.Instance.Format([new(ChatRole.System, "Be brief."), .. Ask("Where did the whale go?")]),
            turn.Sampling with { StopStrings = [.. turn.Sampling.StopStrings, "\nUser:"] });
        using (var other = _llama.CreateSession()) Assert.AreEqual(byHand, await turn.RunAsync(other));
        // A caller's template gives its text and its stop strings.
        using var bracket = _llama.AsChatClient(new BitLlamaChatClientOptions { Template = PlainTextChatTemplate.Instance });
        var templated = bracket.PrepareTurn(Ask("Where did the whale go?"), options);
        Assert.AreEqual(PlainTextChatTemplate.Instance.Format([new(ChatRole.System, "Be brief."), .. Ask("Where did the whale go?")]), templated.Prompt);
        CollectionAssert.AreEquivalent(new[] { ".", "\nUser:" }, templated.Sampling.StopStrings.ToArray());
        var response = await client.GetResponseAsync(Ask("Where did the whale go?"), options);
        Assert.AreEqual(byHand.Text, response.Text);
        Assert.AreEqual((long)byHand.PromptTokens, response.Usage!.InputTokenCount);
        var e = Assert.ThrowsExactly<ArgumentException>(() => client.PrepareTurn(Ask("x"), new ChatOptions { TopP = 3 }));
        StringAssert.Contains(e.Message, "ChatOptions.TopP");
    }

    [TestMethod]
    public async Task StreamingEqualsNonStreamingForTheSameSeed()
    {
        using var client = _llama.AsChatClient(new BitLlamaChatClientOptions { StartConversations = false });
        var whole = await client.GetResponseAsync(Ask("Call me Ishmael."), Sampled);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync(Ask("Call me Ishmael."), Sampled)) updates.Add(u);
        Assert.AreEqual(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.IsGreaterThan(2, updates.Count);
        var last = updates[^1];
        Assert.AreEqual(whole.FinishReason, last.FinishReason);
        Assert.AreEqual(whole.Usage!.OutputTokenCount, last.Contents.OfType<UsageContent>().Single().Details.OutputTokenCount);
        Assert.IsNull(whole.ConversationId);
        Assert.AreEqual(0, client.LiveConversations);
        var merged = updates.ToChatResponse();
        Assert.AreEqual(whole.Text, merged.Text);
    }

    [TestMethod]
    public async Task CancellationStopsTheStreamAndTheConversationGoesOn()
    {
        using var client = _llama.AsChatClient();
        string id = client.StartConversation();
        using var cts = new CancellationTokenSource();
        int after = 0;
        await Assert.ThrowsAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync(Ask("Tell me of the sea."), new ChatOptions { ConversationId = id, MaxOutputTokens = 500, Temperature = 0 }, cts.Token))
            {
                if (cts.IsCancellationRequested) after++;
                else cts.Cancel();
            }
        });
        Assert.AreEqual(0, after);
        var next = await client.GetResponseAsync(Ask("And then?"), new ChatOptions { ConversationId = id, MaxOutputTokens = 3 });
        Assert.AreEqual(id, next.ConversationId);
    }

    [TestMethod]
    public async Task ConversationMemoryIsTheSessionFedOnlyTheNewMessages()
    {
        using var client = _llama.AsChatClient();
        var first = await client.GetResponseAsync(Ask("The whale was white."), Greedy(12));
        var second = await client.GetResponseAsync(Ask("What colour was it?"), Greedy(12, first.ConversationId));

        using var session = _llama.CreateSession();   // the same by hand: one session, each turn's new messages only
        var greedy = EngineGreedy(12);
        Assert.AreEqual(first.Text, session.Complete(PlainTextChatTemplate.Instance.Format(Ask("The whale was white.")), greedy));
        Assert.AreEqual(second.Text, session.Complete(PlainTextChatTemplate.Instance.Format(Ask("What colour was it?")), greedy));

        Assert.IsTrue(client.ResetConversation(first.ConversationId!));
        var afterReset = await client.GetResponseAsync(Ask("What colour was it?"), Greedy(12, first.ConversationId));
        var fresh = await client.GetResponseAsync(Ask("What colour was it?"), Greedy(12));
        Assert.AreEqual(fresh.Text, afterReset.Text);
        Assert.AreEqual(fresh.Usage!.InputTokenCount, afterReset.Usage!.InputTokenCount);
        Assert.IsFalse(client.ResetConversation("never-started"));
    }

    [TestMethod]
    public async Task EvictionDropsTheLeastRecentlyUsedOrKeepsItInAMemoryFile()
    {
        using var dropping = _llama.AsChatClient(new BitLlamaChatClientOptions { MaxConversations = 2 });
        string a = dropping.StartConversation(), b = dropping.StartConversation();
        await dropping.GetResponseAsync(Ask("hello"), Greedy(8, a));   // a is now the most recent
        string c = dropping.StartConversation();                                                // evicts b
        Assert.AreEqual(2, dropping.LiveConversations);
        var e = await Assert.ThrowsExactlyAsync<ConversationNotFoundException>(() => dropping.GetResponseAsync(Ask("hi"), Greedy(8, b)));
        StringAssert.Contains(e.Message, b);
        StringAssert.Contains(e.Message, "evicted");
        await dropping.GetResponseAsync(Ask("hi"), Greedy(8, c));

        string dir = TestModel.NewPath("memories");
        // A memory file holds the TTT state, not the repetition penalty's recent-token window: compare without the penalty.
        var noPenalty = new SamplingOptions { RepetitionPenalty = 1f };
        using var keeping = _llama.AsChatClient(new BitLlamaChatClientOptions { MaxConversations = 1, MemoryDirectory = dir, Defaults = noPenalty });
        using var reference = _llama.AsChatClient(new BitLlamaChatClientOptions { Defaults = noPenalty });
        var k1 = await keeping.GetResponseAsync(Ask("The sea was calm."), Greedy(8));
        var r1 = await reference.GetResponseAsync(Ask("The sea was calm."), Greedy(8));
        await keeping.GetResponseAsync(Ask("other"), Greedy(8));   // a second conversation evicts the first to a file
        Assert.IsTrue(File.Exists(Path.Combine(dir, k1.ConversationId + ".bttm")));
        var k2 = await keeping.GetResponseAsync(Ask("Was it?"), Greedy(8, k1.ConversationId));
        var r2 = await reference.GetResponseAsync(Ask("Was it?"), Greedy(8, r1.ConversationId));
        Assert.AreEqual(r2.Text, k2.Text);
    }

    [TestMethod]
    public async Task SaveMemoryWritesTheConversationsState()
    {
        using var client = _llama.AsChatClient();
        var r = await client.GetResponseAsync(Ask("The whale swam."), Greedy(6));
        string path = TestModel.NewPath("conv.bttm");
        client.SaveMemory(r.ConversationId!, path);
        using var restored = _llama.CreateSession();
        restored.LoadMemory(path);
        using var byHand = _llama.CreateSession();
        Assert.AreEqual(r.Text, byHand.Complete(PlainTextChatTemplate.Instance.Format(Ask("The whale swam.")), EngineGreedy(6)));
        var x = _llama.Tokenizer.Encode("x");
        CollectionAssert.AreEqual(byHand.Logits(x), restored.Logits(x));
    }

    [TestMethod]
    public async Task BadRequestsFailClearlyAndLeaveTheConversationIntact()
    {
        using var client = _llama.AsChatClient();
        var first = await client.GetResponseAsync(Ask("The whale was white."), Greedy(6));
        var with = Greedy(6, first.ConversationId);
        ChatOptions With(Action<ChatOptions> change) { var o = Greedy(6, first.ConversationId); change(o); return o; }

        async Task<string> Fails<T>(IEnumerable<ChatMessage> messages, ChatOptions o) where T : Exception =>
            (await Assert.ThrowsExactlyAsync<T>(() => client.GetResponseAsync(messages, o))).Message;
        StringAssert.Contains(await Fails<ArgumentException>([new(ChatRole.System, "be brief")], with), "no user message");
        StringAssert.Contains(await Fails<ArgumentException>([], with), "empty");
        StringAssert.Contains(await Fails<ArgumentException>([new(ChatRole.User, "")], with), "messages[0]");
        StringAssert.Contains(await Fails<ArgumentException>([new(ChatRole.User, "hi"), new(new ChatRole("tool"), "x")], with), "role 'tool'");
        StringAssert.Contains(await Fails<ArgumentException>(Ask("hi"), With(o => o.MaxOutputTokens = 0)), "MaxOutputTokens");
        StringAssert.Contains(await Fails<ArgumentException>(Ask("hi"), With(o => o.Temperature = -1)), "Temperature");
        StringAssert.Contains(await Fails<ArgumentException>(Ask("hi"), With(o => o.TopP = 0)), "TopP");
        StringAssert.Contains(await Fails<ArgumentException>(Ask("hi"), With(o => o.ConversationId = "../etc")), "not valid");
        StringAssert.Contains(await Fails<ConversationNotFoundException>(Ask("hi"), With(o => o.ConversationId = "nope")), "'nope' is unknown");
        await Assert.ThrowsExactlyAsync<ArgumentException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync([new(ChatRole.Assistant, "x")], with)) { }
        });

        using var reference = _llama.AsChatClient();
        var r1 = await reference.GetResponseAsync(Ask("The whale was white."), Greedy(6));
        var expected = await reference.GetResponseAsync(Ask("Go on."), Greedy(6, r1.ConversationId));
        Assert.AreEqual(expected.Text, (await client.GetResponseAsync(Ask("Go on."), with)).Text, "a rejected request changed the conversation");
    }

    [TestMethod]
    public async Task OverlappingTurnsOnOneConversationAreRejected()
    {
        using var client = _llama.AsChatClient();
        string id = client.StartConversation();
        await using var stream = client.GetStreamingResponseAsync(Ask("Tell me."), new ChatOptions { ConversationId = id, MaxOutputTokens = 200, Temperature = 0 }).GetAsyncEnumerator();
        Assert.IsTrue(await stream.MoveNextAsync());
        await Assert.ThrowsExactlyAsync<InvalidOperationException>(() => client.GetResponseAsync(Ask("hi"), new ChatOptions { ConversationId = id }));
        Assert.IsTrue(await stream.MoveNextAsync());
    }

    [TestMethod]
    public async Task EachCallMaySayWhetherToStartAConversationWhateverTheClientDefault()
    {
        static ChatOptions Asking(bool start) => new() { MaxOutputTokens = 3, AdditionalProperties = new() { [BitLlamaChatClient.StartConversationKey] = start } };
        using var keeping = _llama.AsChatClient();
        var oneShot = await keeping.GetResponseAsync(Ask("The whale"), Asking(false));
        Assert.IsNull(oneShot.ConversationId);
        Assert.AreEqual(0, keeping.LiveConversations, "a call that asked not to be kept took a slot");
        using var dropping = _llama.AsChatClient(new BitLlamaChatClientOptions { StartConversations = false });
        var kept = await dropping.GetResponseAsync(Ask("The whale"), Asking(true));
        Assert.IsNotNull(kept.ConversationId);
        Assert.AreEqual(1, dropping.LiveConversations);
        Assert.IsNotNull((await dropping.GetResponseAsync(Ask("And?"), new ChatOptions { ConversationId = kept.ConversationId, MaxOutputTokens = 3 })).ConversationId);
    }

    [TestMethod]
    public async Task OneShotChatsResendingTheHistoryReportTheTokensTheModelsPrefixCacheHeld()
    {
        using var llama = Llama.LoadAuto(TestModel.BittPath);
        llama.EnablePrefixCache();
        using var client = llama.AsChatClient(new BitLlamaChatClientOptions { StartConversations = false });
        using var reference = _llama.AsChatClient(new BitLlamaChatClientOptions { StartConversations = false });
        List<ChatMessage> history = [new(ChatRole.User, "Where did the whale swim?")];
        var first = await client.GetResponseAsync(history, Sampled);
        Assert.AreEqual(0L, first.Usage!.CachedInputTokenCount);
        history.AddRange(first.Messages);
        history.Add(new(ChatRole.User, "And then?"));
        var second = await client.GetStreamingResponseAsync(history, Sampled).ToChatResponseAsync();
        Assert.AreEqual((await reference.GetResponseAsync(history, Sampled)).Text, second.Text);
        Assert.IsGreaterThanOrEqualTo(first.Usage.InputTokenCount!.Value - 1, second.Usage!.CachedInputTokenCount!.Value, "the second turn fed the first turn's prompt again (only its last token should be)");
    }

    [TestMethod]
    public async Task ADisposedModelIsAClearError()
    {
        var llama = Llama.LoadAuto(TestModel.BittPath);
        using var client = llama.AsChatClient();
        llama.Dispose();
        await Assert.ThrowsExactlyAsync<ObjectDisposedException>(() => client.GetResponseAsync(Ask("hi")));
        Assert.ThrowsExactly<ObjectDisposedException>(() => llama.AsChatClient());
    }

    [TestMethod]
    public async Task AChatClientFromMLNetUsesTheModelsStoredSettings()
    {
        var generator = TestModel.Ml.Model.CreateTextGenerator(TestModel.Transformer);
        using var client = generator.Model.AsChatClient();
        var response = await client.GetResponseAsync(Ask("The whale"));
        Assert.AreEqual(16, generator.DefaultOptions.MaxTokens);
        string prompt = PlainTextChatTemplate.Instance.Format(Ask("The whale"));
        Assert.AreEqual(generator.Complete(prompt, generator.DefaultOptions with { StopStrings = ["\nUser:"] }), response.Text);
        Assert.IsFalse(TestModel.Transformer is BitLlamaTransformer t && t.Model.IsDisposed);
    }
}
