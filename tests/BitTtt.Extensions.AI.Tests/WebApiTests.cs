using System.Text.Json.Nodes;
using BitTtt.Inference;
using Microsoft.Extensions.AI;

namespace BitTtt.Extensions.AI.Tests;

/// <summary>samples/BusinessApp over loopback HTTP: the real Kestrel server, the model trained in the fixture.</summary>
[TestClass]
public sealed class WebApiTests
{
    static WebServer _server = null!;
    static Llama _llama = null!;
    const int MaxTokens = 100_000;

    [ClassInitialize]
    public static async Task Start(TestContext _)
    {
        _server = await WebServer.StartAsync($"--Api:MaxTokensPerRequest={MaxTokens}", "--Api:MaxConcurrentRequests=40", "--Api:MaxPromptChars=2000");
        _llama = Llama.LoadAuto(TestModel.BittPath);
    }

    [ClassCleanup]
    public static async Task Stop()
    {
        await _server.DisposeAsync();
        _llama.Dispose();
    }

    static object User(string text) => new { role = "user", content = text };

    [TestMethod]
    public async Task CompleteReturnsTheLibrarysCompletion()
    {
        var (status, body) = await _server.PostAsync("/v1/complete", new { prompt = "The whale", maxTokens = 10, temperature = 0, seed = 1 });
        Assert.AreEqual(200, status, body.ToJsonString());
        var expected = _llama.CreateSession().Generate("The whale", _llama.DefaultSampling with { MaxTokens = 10, Temperature = 0, Seed = 1 });
        Assert.AreEqual(expected.Text, (string)body["text"]!);
        Assert.AreEqual(expected.PromptTokens, (int)body["promptTokens"]!);
        Assert.AreEqual(expected.CompletionTokens, (int)body["completionTokens"]!);
        Assert.AreEqual(expected.FinishReason == LlamaFinishReason.Length ? "length" : "stop", (string)body["finishReason"]!);
        var health = await _server.HealthAsync();
        Assert.AreEqual("Healthy", (string)health["status"]!);
        Assert.AreEqual("tiny-chat", (string)health["checks"]!["model"]!["data"]!["model"]!);
    }

    [TestMethod]
    public async Task SseArrivesIncrementallyAndADisconnectStopsGeneration()
    {
        long before = _server.Stats.PiecesGenerated;
        using (var stream = await _server.OpenStreamAsync(new { messages = new[] { User("Tell me of the whale.") }, maxTokens = MaxTokens, temperature = 0, stream = true }))
        {
            Assert.AreEqual("text/event-stream", stream.Response.Content.Headers.ContentType!.MediaType);
            string first = (await stream.NextAsync())!;
            Assert.IsFalse(string.IsNullOrEmpty((string)JsonNode.Parse(first)!["text"]!));
            Assert.AreEqual(1, _server.Stats.ActiveGenerations, "the first event came only after generation ended");
            for (int i = 0; i < 5; i++) Assert.IsNotNull(await stream.NextAsync());
        }   // the client disconnects
        long stopped = await WaitUntilIdle();
        Assert.IsLessThan(MaxTokens / 2, stopped - before, "generation ran on after the client left");
        await Task.Delay(200);
        Assert.AreEqual(stopped, _server.Stats.PiecesGenerated, "the piece counter still grows");
    }

    static async Task<long> WaitUntilIdle()
    {
        for (int i = 0; i < 300 && _server.Stats.ActiveGenerations > 0; i++) await Task.Delay(100);
        Assert.AreEqual(0, _server.Stats.ActiveGenerations, "generation did not stop within 30 s");
        return _server.Stats.PiecesGenerated;
    }

    [TestMethod]
    public async Task ThirtyTwoConcurrentStreamsEachGetTheTextTheyGetAlone()
    {
        object Request(int i) => new { messages = new[] { User(i % 2 == 0 ? "Call me Ishmael." : "The sea.") }, maxTokens = 24, temperature = 0.9, seed = i, stream = true };
        async Task<string> Run(int i)
        {
            using var s = await _server.OpenStreamAsync(Request(i));
            Assert.AreEqual(200, (int)s.Response.StatusCode);
            return (await s.ReadToEndAsync()).Text;
        }
        var alone = new string[32];
        for (int i = 0; i < 32; i++) alone[i] = await Run(i);
        var together = await Task.WhenAll(Enumerable.Range(0, 32).Select(i => Task.Run(() => Run(i))));
        CollectionAssert.AreEqual(alone, together);
        Assert.IsGreaterThan(4, alone.Distinct().Count(), "the seeds made no difference");
    }

    [TestMethod]
    public async Task AFullServerAnswers429NotAQueue()
    {
        await using var small = await WebServer.StartAsync("--Api:MaxConcurrentRequests=1", $"--Api:MaxTokensPerRequest={MaxTokens}");
        using (var stream = await small.OpenStreamAsync(new { messages = new[] { User("Go on.") }, maxTokens = MaxTokens, temperature = 0, stream = true }))
        {
            Assert.IsNotNull(await stream.NextAsync());
            var (status, body) = await small.PostAsync("/v1/complete", new { prompt = "The whale", maxTokens = 4 });
            Assert.AreEqual(429, status);
            StringAssert.Contains((string)body["detail"]!, "retry later");
            Assert.AreEqual("Healthy", (string)(await small.HealthAsync())["status"]!);   // health is not limited
        }
        for (int i = 0; i < 300 && small.Stats.ActiveGenerations > 0; i++) await Task.Delay(100);
        Assert.AreEqual(200, (await small.PostAsync("/v1/complete", new { prompt = "The whale", maxTokens = 4 })).Status);
    }

    [TestMethod]
    public async Task BadRequestsGetProblemDetailsNamingTheField()
    {
        async Task Expect(int status, string field, Task<(int Status, JsonObject Body)> call)
        {
            var (s, body) = await call;
            Assert.AreEqual(status, s, body.ToJsonString());
            Assert.AreEqual(field, (string?)body["field"], body.ToJsonString());
            Assert.IsFalse(string.IsNullOrEmpty((string?)body["detail"]), body.ToJsonString());
        }
        await Expect(400, "body", _server.PostRawAsync("/v1/complete", "{\"prompt\": \"x\""));
        await Expect(400, "body", _server.PostRawAsync("/v1/chat", "not json"));
        await Expect(400, "maxTokens", _server.PostRawAsync("/v1/complete", "{\"prompt\": \"x\", \"maxTokens\": \"many\"}"));
        await Expect(400, "prompt", _server.PostAsync("/v1/complete", new { prompt = new string('a', 2001) }));
        await Expect(400, "prompt", _server.PostAsync("/v1/complete", new { maxTokens = 3 }));
        await Expect(400, "maxTokens", _server.PostAsync("/v1/complete", new { prompt = "x", maxTokens = -1 }));
        await Expect(400, "maxTokens", _server.PostAsync("/v1/complete", new { prompt = "x", maxTokens = MaxTokens + 1 }));
        await Expect(400, "temperature", _server.PostAsync("/v1/complete", new { prompt = "x", temperature = -0.5 }));
        await Expect(400, "topP", _server.PostAsync("/v1/complete", new { prompt = "x", topP = 2 }));
        await Expect(400, "stopStrings", _server.PostAsync("/v1/chat", new { messages = new[] { User("hi") }, stopStrings = new[] { "" } }));
        await Expect(400, "messages", _server.PostAsync("/v1/chat", new { messages = Array.Empty<object>() }));
        await Expect(400, "messages", _server.PostAsync("/v1/chat", new { messages = new[] { new { role = "system", content = "be brief" } } }));
        await Expect(400, "messages[0].role", _server.PostAsync("/v1/chat", new { messages = new[] { new { role = "wizard", content = "hi" } } }));
        await Expect(400, "messages[1].content", _server.PostAsync("/v1/chat", new { messages = new[] { User("hi"), new { role = "user", content = "" } } }));
        await Expect(400, "messages", _server.PostAsync("/v1/chat", new { messages = new[] { User(new string('a', 2001)) } }));
        await Expect(404, "conversationId", _server.PostAsync("/v1/chat", new { conversationId = "nope", messages = new[] { User("hi") } }));
        await Expect(404, "conversationId", _server.PostAsync("/v1/chat", new { conversationId = "nope", messages = new[] { User("hi") }, stream = true }));
        await Expect(400, "conversationId", _server.PostAsync("/v1/chat", new { conversationId = "a b", messages = new[] { User("hi") } }));
        using var delete = await _server.Http.DeleteAsync("/v1/conversations/nope");
        Assert.AreEqual(404, (int)delete.StatusCode);
        StringAssert.Contains((string)(await WebServer.ReadObject(delete))["detail"]!, "unknown");
    }

    [TestMethod]
    public async Task ConversationMemorySurvivesTwoTurnsAndResetClearsIt()
    {
        object Turn(string? id, string text) => new { conversationId = id, startConversation = id is null, messages = new[] { User(text) }, maxTokens = 12, temperature = 0 };
        var (s1, first) = await _server.PostAsync("/v1/chat", Turn(null, "The whale was white."));
        Assert.AreEqual(200, s1, first.ToJsonString());
        string id = (string)first["conversationId"]!;
        var (s2, second) = await _server.PostAsync("/v1/chat", Turn(id, "What colour was it?"));
        Assert.AreEqual(200, s2, second.ToJsonString());
        Assert.AreEqual(id, (string)second["conversationId"]!);

        // The same two turns on a library client with the sample's settings give the same text.
        using var local = _llama.AsChatClient(new BitLlamaServiceOptions().ToChatClientOptions(_llama));
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 12 };
        var l1 = await local.GetResponseAsync([new(ChatRole.User, "The whale was white.")], options);
        options.ConversationId = l1.ConversationId;
        var l2 = await local.GetResponseAsync([new(ChatRole.User, "What colour was it?")], options);
        Assert.AreEqual(l1.Text, (string)first["text"]!);
        Assert.AreEqual(l2.Text, (string)second["text"]!);

        using var reset = await _server.Http.DeleteAsync($"/v1/conversations/{id}");
        Assert.AreEqual(204, (int)reset.StatusCode);
        var (s3, third) = await _server.PostAsync("/v1/chat", Turn(id, "What colour was it?"));
        var fresh = await local.GetResponseAsync([new(ChatRole.User, "What colour was it?")], new ChatOptions { Temperature = 0, MaxOutputTokens = 12 });
        Assert.AreEqual(200, s3);
        Assert.AreEqual(fresh.Text, (string)third["text"]!);
        Assert.AreEqual(fresh.Usage!.InputTokenCount, (long)third["promptTokens"]!);
    }
}
