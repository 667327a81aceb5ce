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
        Assert.IsInstanceOfType<BitLlamaChatClient>(app.Services.GetRequiredService<IChatConversations>());
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
            var health = app.Services.GetRequiredService<HealthCheckService>();
            var ready = await health.CheckHealthAsync(c => c.Tags.Contains("ready"));
            CollectionAssert.AreEquivalent(new[] { "orleans-silo", "conversation-storage" }, ready.Entries.Keys.ToArray());
            Assert.AreEqual(HealthStatus.Healthy, ready.Status);

            using var http = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()) };
            var first = await Post(http, new { messages = new[] { new { role = "user", content = "Who was Ishmael?" } }, maxTokens = 6 });
            Assert.AreEqual(HttpStatusCode.OK, first.Status, first.Body.ToJsonString());
            string id = (string)first.Body["conversationId"]!;
            var health0 = JsonNode.Parse(await http.GetStringAsync("/health"))!;
            Assert.AreEqual(1, (int)health0["liveConversations"]!);
            Assert.AreEqual("reconstruct", (string)health0["model"]!);

            await redis.StopAsync();
            foreach (bool stream in new[] { false, true })
            {
                using var response = await http.PostAsJsonAsync("/v1/chat",
                    new { conversationId = id, stream, messages = new[] { new { role = "user", content = "And the whale?" } }, maxTokens = 6 });
                Assert.AreEqual(HttpStatusCode.ServiceUnavailable, response.StatusCode, $"stream={stream}");
                Assert.AreEqual("application/problem+json", response.Content.Headers.ContentType!.MediaType);
                Assert.AreEqual("1", response.Headers.RetryAfter!.ToString());
                var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
                StringAssert.Contains((string)problem["detail"]!, $"conversation '{id}'");
                Assert.DoesNotContain("   at ", (string)problem["detail"]!);
            }
            using (var reset = await http.DeleteAsync($"/v1/conversations/{id}"))
                Assert.AreEqual(HttpStatusCode.ServiceUnavailable, reset.StatusCode);
            Assert.AreEqual(HealthStatus.Unhealthy, (await health.CheckHealthAsync(c => c.Tags.Contains("ready"))).Entries["conversation-storage"].Status);

            await redis.StartAgainAsync();
            var recovery = System.Diagnostics.Stopwatch.StartNew();
            while ((await health.CheckHealthAsync(c => c.Tags.Contains("ready"))).Status != HealthStatus.Healthy && recovery.Elapsed < TimeSpan.FromSeconds(30))
                await Task.Delay(200);
            var next = await Post(http, new { conversationId = id, messages = new[] { new { role = "user", content = "And the whale?" } }, maxTokens = 6 });
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

    static async Task<(HttpStatusCode Status, JsonObject Body)> Post(HttpClient http, object body)
    {
        using var response = await http.PostAsJsonAsync("/v1/chat", body, JsonSerializerOptions.Web);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }
}
