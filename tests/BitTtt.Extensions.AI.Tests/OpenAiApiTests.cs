using System.ClientModel;
using System.Text.Json.Nodes;
using BitTtt.Inference;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;
using ChatFinishReason = Microsoft.Extensions.AI.ChatFinishReason;
using MeaiChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace BitTtt.Extensions.AI.Tests;

/// <summary>
/// samples/BusinessApp's OpenAI-compatible endpoints over loopback HTTP, through the official OpenAI .NET SDK, through
/// Microsoft.Extensions.AI.OpenAI's IChatClient, and as raw JSON where the wire's shape itself is the point. The text
/// must be what the library gives for the same request.
/// </summary>
[TestClass]
public sealed class OpenAiApiTests
{
    const string Model = "tiny-chat";
    const int MaxTokens = 100_000;
    static WebServer _server = null!;
    static Llama _llama = null!;   // no prefix cache: the reference the server's cached answers must equal

    [ClassInitialize]
    public static async Task Start(TestContext _)
    {
        _server = await WebServer.StartAsync($"--Api:MaxTokensPerRequest={MaxTokens}", "--Api:MaxConcurrentRequests=40", "--Api:MaxPromptChars=4000");
        _llama = Llama.LoadAuto(TestModel.BittPath);
    }

    [ClassCleanup]
    public static async Task Stop()
    {
        await _server.DisposeAsync();
        _llama.Dispose();
    }

    static OpenAIClient Client() => new(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(_server.Address, "v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });

    /// <summary>The library's chat client with the server's settings, one-shot: what every OpenAI chat request must answer.</summary>
    static BitLlamaChatClient Local() => _llama.AsChatClient(new BitLlamaServiceOptions { StartConversations = false }.ToChatClientOptions(_llama));

    static PrefixStateCache ServerCache => _server.Services.GetService<Llama>()!.PrefixCache!;

    [TestMethod]
    public async Task TheOpenAiSdkGetsTheLibrarysAnswerStreamedOrNot()
    {
        var chat = Client().GetChatClient(Model);
#pragma warning disable OPENAI001 // Seed is marked experimental in the SDK
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 0.8f, Seed = 5 };
#pragma warning restore OPENAI001
        OpenAI.Chat.ChatMessage[] messages = [new SystemChatMessage("Answer briefly."), new UserChatMessage("Where did the whale swim?")];
        ChatCompletion completion = await chat.CompleteChatAsync(messages, options);

        using var local = Local();
        var expected = await local.GetResponseAsync(
            [new(ChatRole.System, "Answer briefly."), new(ChatRole.User, "Where did the whale swim?")],
            new ChatOptions { MaxOutputTokens = 12, Temperature = 0.8f, Seed = 5 });
        Assert.AreEqual(expected.Text, completion.Content.Single().Text);
        Assert.AreEqual(ChatRole.Assistant.Value, completion.Role.ToString().ToLowerInvariant());
        Assert.AreEqual(expected.Usage!.InputTokenCount, completion.Usage.InputTokenCount);
        Assert.AreEqual(expected.Usage.OutputTokenCount, completion.Usage.OutputTokenCount);
        Assert.AreEqual(expected.FinishReason == ChatFinishReason.Length ? OpenAI.Chat.ChatFinishReason.Length : OpenAI.Chat.ChatFinishReason.Stop, completion.FinishReason);
        Assert.AreEqual(Model, completion.Model);

        var streamed = new System.Text.StringBuilder();
        OpenAI.Chat.ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, options))
        {
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.AreEqual(expected.Text, streamed.ToString());
        Assert.AreEqual(completion.FinishReason, finish);
        Assert.AreEqual(completion.Usage.OutputTokenCount, usage?.OutputTokenCount, "the SDK asks for usage in the stream; it came in the last chunk");
    }

    [TestMethod]
    public async Task MicrosoftExtensionsAiResendingTheHistoryGetsTheLibrarysTextAndMostTokensFromTheCache()
    {
        IChatClient remote = Client().GetChatClient(Model).AsIChatClient();
        using var local = Local();
        List<MeaiChatMessage> history = [new(ChatRole.System, "You answer briefly.")];
        string[] questions = ["Where did the whale swim?", "And then?", "Was the sea calm?", "Who saw it?", "What colour was it?", "Why?"];
        long hits = ServerCache.Hits;
        for (int turn = 0; turn < questions.Length; turn++)
        {
            history.Add(new(ChatRole.User, questions[turn]));
            var options = new ChatOptions { MaxOutputTokens = 10, Temperature = 0.7f, Seed = turn };
            var expected = await local.GetResponseAsync(history, options);
            ChatResponse response = turn % 2 == 0
                ? await remote.GetResponseAsync(history, options)
                : await remote.GetStreamingResponseAsync(history, options).ToChatResponseAsync();
            Assert.AreEqual(expected.Text, response.Text, $"turn {turn + 1}");
            Assert.AreEqual(expected.Usage!.InputTokenCount, response.Usage!.InputTokenCount, $"turn {turn + 1}");
            if (turn > 0)
                Assert.IsGreaterThan(expected.Usage.InputTokenCount!.Value / 2, response.Usage.CachedInputTokenCount ?? 0,
                    $"turn {turn + 1}: the history sent again was mostly fed again");
            history.Add(new(ChatRole.Assistant, response.Text));
        }
        Assert.IsGreaterThanOrEqualTo(hits + questions.Length - 1, ServerCache.Hits);
    }

    [TestMethod]
    public async Task CompletionsAnswerAsTheLibraryAndStreamChunksThenUsageThenDone()
    {
        var (status, body) = await _server.PostAsync("/v1/completions", new { model = Model, prompt = "The whale", max_tokens = 10, temperature = 0, seed = 1 });
        Assert.AreEqual(200, status, body.ToJsonString());
        var expected = await _llama.CompleteAsync("The whale", _llama.DefaultSampling with { MaxTokens = 10, Temperature = 0, Seed = 1 });
        Assert.AreEqual("text_completion", (string)body["object"]!);
        StringAssert.StartsWith((string)body["id"]!, "cmpl-");
        Assert.AreEqual(expected.Text, (string)body["choices"]![0]!["text"]!);
        Assert.AreEqual(expected.FinishReason == LlamaFinishReason.Length ? "length" : "stop", (string)body["choices"]![0]!["finish_reason"]!);
        Assert.AreEqual(expected.PromptTokens, (int)body["usage"]!["prompt_tokens"]!);
        Assert.AreEqual(expected.CompletionTokens, (int)body["usage"]!["completion_tokens"]!);
        Assert.AreEqual(expected.PromptTokens + expected.CompletionTokens, (int)body["usage"]!["total_tokens"]!);

        using var stream = await _server.OpenStreamAsync("/v1/completions",
            new { prompt = "The whale", max_tokens = 10, temperature = 0, seed = 1, stream = true, stream_options = new { include_usage = true } });
        Assert.AreEqual("text/event-stream", stream.Response.Content.Headers.ContentType!.MediaType);
        var chunks = await ReadAll(stream);
        Assert.AreEqual(expected.Text, string.Concat(chunks.SkipLast(1).Select(c => (string)c["choices"]![0]!["text"]!)));
        Assert.AreEqual((string)body["choices"]![0]!["finish_reason"]!, (string)chunks[^2]["choices"]![0]!["finish_reason"]!);
        Assert.IsEmpty(chunks[^1]["choices"]!.AsArray(), "the usage chunk has no choices");
        Assert.AreEqual(expected.CompletionTokens, (int)chunks[^1]["usage"]!["completion_tokens"]!);
        Assert.IsTrue(chunks.SkipLast(1).All(c => c["usage"] is null), "only the last chunk carries usage");
    }

    [TestMethod]
    public async Task AChatStreamNamesTheRoleFirstAndEndsWithTheFinishReasonUsageAndDone()
    {
        using var stream = await _server.OpenStreamAsync("/v1/chat/completions", new
        {
            model = Model, messages = new[] { new { role = "user", content = "Tell me of the sea." } }, max_tokens = 8, temperature = 0,
            stream = true, stream_options = new { include_usage = true },
        });
        Assert.AreEqual(200, (int)stream.Response.StatusCode);
        var chunks = await ReadAll(stream);
        Assert.IsTrue(chunks.All(c => (string)c["object"]! == "chat.completion.chunk" && (string)c["model"]! == Model));
        Assert.AreEqual(1, chunks.Select(c => (string)c["id"]!).Distinct().Count(), "one id for the whole stream");
        Assert.AreEqual("assistant", (string)chunks[0]["choices"]![0]!["delta"]!["role"]!);
        Assert.IsTrue(chunks.Skip(1).All(c => c["choices"]!.AsArray().All(ch => ch!["delta"]!["role"] is null)));
        Assert.AreEqual("length", (string)chunks[^2]["choices"]![0]!["finish_reason"]!);
        Assert.AreEqual(8, (int)chunks[^1]["usage"]!["completion_tokens"]!);
    }

    [TestMethod]
    public async Task ModelsAreListedAndAnUnknownModelIsA404InOpenAisShape()
    {
        var models = Client().GetOpenAIModelClient();
        var list = (await models.GetModelsAsync()).Value;
        Assert.AreEqual(Model, list.Single().Id);
        Assert.AreEqual("bitllama", list.Single().OwnedBy);
        Assert.AreEqual(Model, (await models.GetModelAsync(Model)).Value.Id);
        var missing = await Assert.ThrowsAsync<ClientResultException>(() => models.GetModelAsync("gpt-4o"));
        Assert.AreEqual(404, missing.Status);
        var wrong = await Assert.ThrowsAsync<ClientResultException>(() => Client().GetChatClient("gpt-4o").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.AreEqual(404, wrong.Status);
        StringAssert.Contains(wrong.Message, "serves 'tiny-chat'");
    }

    const string AnyParam = "(any)";

    [TestMethod]
    public async Task UnsupportedFieldsAreA400NamingThemAndUnknownFieldsAreIgnored()
    {
        async Task Expect(int status, string? param, string? code, string json, string path = "/v1/chat/completions")
        {
            var (s, body) = await _server.PostRawAsync(path, json);
            Assert.AreEqual(status, s, $"{json} -> {body.ToJsonString()}");
            var error = body["error"]!.AsObject();
            if (param != AnyParam) Assert.AreEqual(param, (string?)error["param"], body.ToJsonString());
            Assert.AreEqual(code, (string?)error["code"], body.ToJsonString());
            Assert.AreEqual("invalid_request_error", (string)error["type"]!);
            Assert.IsFalse(string.IsNullOrEmpty((string?)error["message"]));
            Assert.IsTrue(error.ContainsKey("param") && error.ContainsKey("code"), "param and code are always present, null or not");
        }
        string Chat(string extra) => $$"""{"model": "{{Model}}", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3{{extra}}}""";
        await Expect(400, "tools", null, Chat(""", "tools": [{"type": "function", "function": {"name": "f"}}]"""));
        await Expect(400, "n", null, Chat(""", "n": 2"""));
        await Expect(400, "logprobs", null, Chat(""", "logprobs": true"""));
        await Expect(400, "top_logprobs", null, Chat(""", "top_logprobs": 3"""));
        await Expect(400, "tool_choice", null, Chat(""", "tool_choice": "required" """));
        await Expect(400, "response_format", null, Chat(""", "response_format": {"type": "json_object"}"""));
        await Expect(400, "logit_bias", null, Chat(""", "logit_bias": {"50256": -100}"""));
        await Expect(400, "temperature", null, Chat(""", "temperature": -1"""));
        await Expect(400, "top_p", null, Chat(""", "top_p": 2"""));
        await Expect(400, "frequency_penalty", null, Chat(""", "frequency_penalty": -1.5"""));
        await Expect(400, "stop", null, Chat(""", "stop": [""]"""));
        await Expect(400, "stop", null, Chat(""", "stop": 5"""));
        await Expect(400, "seed", null, Chat(""", "seed": 99999999999"""));
        await Expect(400, "max_tokens", null, """{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}""");
        await Expect(400, "max_completion_tokens", null, Chat($$""", "max_completion_tokens": {{MaxTokens + 1}}"""));
        await Expect(400, "max_tokens", null, """{"messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"}""");
        await Expect(400, AnyParam, null, """{"messages": [""");
        await Expect(400, "messages", null, """{"messages": []}""");
        await Expect(400, "messages", null, """{"messages": [{"role": "system", "content": "be brief"}]}""");
        await Expect(400, "messages[0].role", null, """{"messages": [{"role": "tool", "content": "42", "tool_call_id": "c"}]}""");
        await Expect(400, "messages[0].content[1]", null, """{"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "x"}}]}]}""");
        await Expect(400, "messages", "context_length_exceeded", $$"""{"messages": [{"role": "user", "content": "{{new string('a', 4001)}}"}]}""");
        await Expect(404, "model", "model_not_found", """{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}""");
        await Expect(400, "prompt", null, """{"prompt": [1, 2, 3]}""", "/v1/completions");
        await Expect(400, "echo", null, """{"prompt": "hi", "echo": true}""", "/v1/completions");
        await Expect(400, "best_of", null, """{"prompt": "hi", "best_of": 3}""", "/v1/completions");

        // Fields OpenAI has and this server ignores, and ones nobody has: 200. Text parts are joined; developer is system.
        var (status, body) = await _server.PostRawAsync("/v1/chat/completions", Chat(
            """, "user": "u-1", "metadata": {"k": "v"}, "store": false, "parallel_tool_calls": false, "frobnicate": {"x": [1]}, "tool_choice": "none", "response_format": {"type": "text"}"""));
        Assert.AreEqual(200, status, body.ToJsonString());
        var (partsStatus, parts) = await _server.PostAsync("/v1/chat/completions", new
        {
            messages = new object[] { new { role = "developer", content = "Be brief." }, new { role = "user", content = new[] { new { type = "text", text = "The whale" }, new { type = "text", text = " swam." } } } },
            max_tokens = 6, temperature = 0,
        });
        Assert.AreEqual(200, partsStatus, parts.ToJsonString());
        using var local = Local();
        var expected = await local.GetResponseAsync([new(ChatRole.System, "Be brief."), new(ChatRole.User, "The whale swam.")], new ChatOptions { MaxOutputTokens = 6, Temperature = 0 });
        Assert.AreEqual(expected.Text, (string)parts["choices"]![0]!["message"]!["content"]!);

        // The SDK surfaces the server's message.
        var options = new ChatCompletionOptions { Tools = { ChatTool.CreateFunctionTool("lookup", "looks up") } };
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Client().GetChatClient(Model).CompleteChatAsync([new UserChatMessage("hi")], options));
        Assert.AreEqual(400, e.Status);
        StringAssert.Contains(e.Message, "tool calling is not supported");
    }

    [TestMethod]
    public async Task TheDocsOpenAiExampleRunsAgainstTheApp()
    {
        long hits = ServerCache.Hits;
        string reply = await DocSnippets.AskOverTheOpenAiWire(new Uri(_server.Address, "v1"), Model);
        Assert.IsFalse(string.IsNullOrEmpty(reply));
        Assert.IsGreaterThan(hits, ServerCache.Hits, "the second turn resent the first and found it cached");
    }

    /// <summary>Every data event of an SSE stream up to [DONE], parsed.</summary>
    static async Task<List<JsonObject>> ReadAll(SseStream stream)
    {
        var chunks = new List<JsonObject>();
        for (string? data = await stream.NextAsync(); data is not null; data = await stream.NextAsync())
        {
            if (data == "[DONE]") return chunks;
            chunks.Add(JsonNode.Parse(data)!.AsObject());
        }
        throw new AssertFailedException("the stream ended without [DONE]");
    }
}
