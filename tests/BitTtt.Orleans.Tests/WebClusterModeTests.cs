using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using BitTtt.Extensions.AI;
using BitTtt.Samples.BusinessApp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace BitTtt.Orleans.Tests;

/// <summary>samples/BusinessApp's cluster mode in this process (one silo on Kestrel at 127.0.0.1): its settings, its health checks, its 503s.</summary>
[TestClass]
public sealed class WebClusterModeTests
{
    static string[] Args(params string[] more) =>
        ["--model", TestModels.Reconstruct, "--urls", "http://127.0.0.1:0", "--environment", "Production", "--Logging:LogLevel:Default=Warning", .. more];

    [TestMethod]
    [DataRow("--cluster", "127.0.0.1:port", "BitLlama:Cluster '127.0.0.1:port' is not a Redis endpoint")]
    [DataRow("--silo-port", "70000", "BitLlama:SiloPort must be a TCP port (1-65535), got '70000'")]
    [DataRow("--gateway-port", "http", "BitLlama:GatewayPort must be a TCP port (1-65535), got 'http'")]
    [DataRow("--silo-address", "my-host", "BitLlama:SiloAddress 'my-host' is not an IP address")]
    public void BadClusterSettingsNameTheirKey(string flag, string value, string message)
    {
        string[] args = flag == "--cluster" ? Args(flag, value) : Args("--cluster", "127.0.0.1:6399", flag, value);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => BusinessApi.Build(args));
        StringAssert.Contains(e.Message, message);
    }

    [TestMethod]
    public async Task WithoutClusterTheConversationsStayInTheProcess()
    {
        await using var app = BusinessApi.Build(Args());
        Assert.IsInstanceOfType<BitLlamaChatClient>(app.Services.GetRequiredService<IChatClient>());
        Assert.IsInstanceOfType<BitLlamaChatClient>(app.Services.GetRequiredService<IBitLlamaConversations>());
    }

    [TestMethod]
    public async Task ClusterModeServesChatAndAnswers503WhileRedisIsDown()
    {
        await using var redis = await RedisServer.StartAsync();
        var app = BusinessApi.Build(Args("--cluster", $"{redis.Endpoint},asyncTimeout=1000,syncTimeout=1000", "--silo-address", "127.0.0.1",
            "--silo-port", RedisServer.FreePort().ToString(), "--gateway-port", RedisServer.FreePort().ToString()));
        await app.StartAsync();
        try
        {
            Assert.IsInstanceOfType<BitLlamaClusterChatClient>(app.Services.GetRequiredService<IChatClient>());
            Assert.IsInstanceOfType<BitLlamaClusterChatClient>(app.Services.GetRequiredService<IBitLlamaConversations>());
            var health = app.Services.GetRequiredService<HealthCheckService>();
            var ready = await health.CheckHealthAsync(c => c.Tags.Contains(HealthEndpoints.ReadyTag));
            CollectionAssert.AreEquivalent(new[] { "model", "orleans-silo", "conversation-storage" }, ready.Entries.Keys.ToArray());
            Assert.AreEqual(HealthStatus.Healthy, ready.Status);

            using var http = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()) };
            var first = await Post(http, "/v1/chat", Chat(null, startConversation: true));
            Assert.AreEqual(HttpStatusCode.OK, first.Status, first.Body.ToJsonString());
            string id = (string)first.Body["conversationId"]!;
            var model = await ModelData(http);
            Assert.AreEqual(1, (int)model["liveConversations"]!);
            Assert.AreEqual("reconstruct", (string)model["model"]!);

            // One-shot chats (ours without startConversation, OpenAI's always) go through the cluster's chat client but
            // keep nothing: the same greedy text, no conversation held, nothing written to Redis, whether Redis is up or not.
            string? keys = await redis.SendAsync("DBSIZE");
            await AssertOneShotChats(http, (string)first.Body["text"]!);
            Assert.AreEqual(keys, await redis.SendAsync("DBSIZE"), "one-shot chats store nothing");
            Assert.AreEqual(1, (int)(await ModelData(http))["liveConversations"]!, "one-shot chats hold no conversation");

            await redis.StopAsync();
            foreach (bool stream in new[] { false, true })
            {
                using var response = await http.PostAsJsonAsync("/v1/chat", Chat(id, stream: stream));
                Assert.AreEqual(HttpStatusCode.ServiceUnavailable, response.StatusCode, $"stream={stream}");
                Assert.AreEqual("application/problem+json", response.Content.Headers.ContentType!.MediaType);
                Assert.AreEqual("1", response.Headers.RetryAfter!.ToString());
                var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
                StringAssert.Contains((string)problem["detail"]!, $"conversation '{id}'");
                Assert.DoesNotContain("   at ", (string)problem["detail"]!);
            }
            Assert.AreEqual(HttpStatusCode.ServiceUnavailable, (await Post(http, "/v1/chat", Chat(null, startConversation: true))).Status,
                "a new conversation cannot be stored either");
            using (var reset = await http.DeleteAsync($"/v1/conversations/{id}"))
                Assert.AreEqual(HttpStatusCode.ServiceUnavailable, reset.StatusCode);
            await AssertOneShotChats(http, (string)first.Body["text"]!);
            using (var live = await http.GetAsync("/health"))
                Assert.AreEqual(HttpStatusCode.OK, live.StatusCode, "the app is alive");
            using (var notReady = await http.GetAsync("/health/ready"))
            {
                Assert.AreEqual(HttpStatusCode.ServiceUnavailable, notReady.StatusCode, "not ready without its storage");
                var checks = JsonNode.Parse(await notReady.Content.ReadAsStringAsync())!["checks"]!;
                Assert.AreEqual("Unhealthy", (string)checks["conversation-storage"]!["status"]!);
                Assert.AreEqual("Healthy", (string)checks["model"]!["status"]!);
            }

            await redis.StartAgainAsync();
            var recovery = System.Diagnostics.Stopwatch.StartNew();
            while ((await health.CheckHealthAsync(c => c.Tags.Contains(HealthEndpoints.ReadyTag))).Status != HealthStatus.Healthy && recovery.Elapsed < TimeSpan.FromSeconds(30))
                await Task.Delay(200);
            var next = await Post(http, "/v1/chat", Chat(id));
            Assert.AreEqual(HttpStatusCode.OK, next.Status, next.Body.ToJsonString());
            using (var reset = await http.DeleteAsync($"/v1/conversations/{id}"))
                Assert.AreEqual(HttpStatusCode.NoContent, reset.StatusCode);
            using (var unknown = await http.DeleteAsync("/v1/conversations/never-started"))
                Assert.AreEqual(HttpStatusCode.NotFound, unknown.StatusCode);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    static readonly object[] Question = [new { role = "user", content = "Who was Ishmael?" }];

    static object Chat(string? conversationId, bool startConversation = false, bool stream = false) =>
        new { conversationId, startConversation, stream, messages = Question, maxTokens = 6, temperature = 0 };

    /// <summary>Our one-shot chat and OpenAI's chat completion give <paramref name="text"/>, and no conversation id.</summary>
    static async Task AssertOneShotChats(HttpClient http, string text)
    {
        var ours = await Post(http, "/v1/chat", Chat(null));
        Assert.AreEqual(HttpStatusCode.OK, ours.Status, ours.Body.ToJsonString());
        Assert.AreEqual(text, (string)ours.Body["text"]!);
        Assert.IsNull(ours.Body["conversationId"]);
        var openAi = await Post(http, "/v1/chat/completions", new { messages = Question, max_tokens = 6, temperature = 0 });
        Assert.AreEqual(HttpStatusCode.OK, openAi.Status, openAi.Body.ToJsonString());
        Assert.AreEqual(text, (string)openAi.Body["choices"]![0]!["message"]!["content"]!);
    }

    /// <summary>The data of the readiness check "model" (GET /health/ready): the model id, generations running, conversations held here.</summary>
    static async Task<JsonNode> ModelData(HttpClient http) =>
        JsonNode.Parse(await http.GetStringAsync("/health/ready"))!["checks"]!["model"]!["data"]!;

    static async Task<(HttpStatusCode Status, JsonObject Body)> Post(HttpClient http, string path, object body)
    {
        using var response = await http.PostAsJsonAsync(path, body, JsonSerializerOptions.Web);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }
}
