namespace BitTtt.Extensions.AI.Tests;

/// <summary>
/// Conversations are bounded (BitLlama:MaxConversations, least recently used evicted) and only a chat that asks to be
/// continued takes a slot: one-shot chats, on our API or OpenAI's, never push a conversation out.
/// </summary>
[TestClass]
public sealed class ConversationSlotTests
{
    static object User(string text) => new { role = "user", content = text };

    [TestMethod]
    public async Task OneShotChatsNeverTakeTheSlotOfAConversationAndTheLeastRecentlyUsedOneGoesFirst()
    {
        await using var server = await WebServer.StartAsync("--BitLlama:MaxConversations=3", "--Api:MaxConcurrentRequests=64");
        async Task<string> Start(string text)
        {
            var (status, body) = await server.PostAsync("/v1/chat", new { startConversation = true, messages = new[] { User(text) }, maxTokens = 4 });
            Assert.AreEqual(200, status, body.ToJsonString());
            return (string)body["conversationId"]!;
        }
        async Task<int> Continue(string id) =>
            (await server.PostAsync("/v1/chat", new { conversationId = id, messages = new[] { User("And then?") }, maxTokens = 4 })).Status;

        string[] kept = [await Start("My name is Ishmael."), await Start("The ship is the Pequod."), await Start("The whale is white.")];

        // Forty-eight one-shot chats at once, half on each API: none gets an id, none takes a slot.
        var oneShots = await Task.WhenAll(Enumerable.Range(0, 48).Select(i => Task.Run(async () => i % 2 == 0
            ? await server.PostAsync("/v1/chat", new { messages = new[] { User($"Question {i}?") }, maxTokens = 4 })
            : await server.PostAsync("/v1/chat/completions", new { messages = new[] { User($"Question {i}?") }, max_tokens = 4 }))));
        Assert.IsTrue(oneShots.All(r => r.Status == 200), string.Join("\n", oneShots.Select(r => r.Body.ToJsonString())));
        Assert.IsTrue(oneShots.Where((_, i) => i % 2 == 0).All(r => r.Body["conversationId"] is null), "a one-shot chat was given a conversation");
        Assert.AreEqual(3, (int)(await server.HealthAsync())["checks"]!["model"]!["data"]!["liveConversations"]!);
        foreach (string id in kept) Assert.AreEqual(200, await Continue(id), "a one-shot chat evicted a conversation");

        // A fourth conversation makes one too many: the least recently continued (the first) goes, the others stay.
        await Start("The captain is Ahab.");
        Assert.AreEqual(404, await Continue(kept[0]));
        Assert.AreEqual(200, await Continue(kept[2]));
        Assert.AreEqual(200, await Continue(kept[1]));
    }
}
