using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BitTtt.Extensions.AI.Tests;

/// <summary>The app's health checks, Prometheus endpoint, OTLP export and logs, over loopback HTTP.</summary>
[TestClass]
public sealed class ObservabilityTests
{
    static object User(string text) => new { role = "user", content = text };

    [TestMethod]
    public async Task LivenessAndReadinessAnswerJson()
    {
        await using var server = await WebServer.StartAsync();
        using var live = await server.Http.GetAsync("/health");
        Assert.AreEqual(200, (int)live.StatusCode);
        var liveBody = JsonNode.Parse(await live.Content.ReadAsStringAsync())!;
        Assert.AreEqual("Healthy", (string)liveBody["status"]!);
        Assert.IsEmpty(liveBody["checks"]!.AsObject(), "liveness runs no check");
        var ready = await server.HealthAsync();
        Assert.AreEqual("Healthy", (string)ready["checks"]!["model"]!["status"]!);
        Assert.AreEqual("the model is loaded", (string)ready["checks"]!["model"]!["description"]!);
        Assert.AreEqual(0, (int)ready["checks"]!["model"]!["data"]!["activeGenerations"]!);
    }

    [TestMethod]
    public async Task AnUnexpectedErrorIsABare500InEachApisShapeLoggedWithItsStackAndReadinessFails()
    {
        var logs = new LogSink();
        await using var server = await WebServer.StartAsync(logs);
        server.Services.GetRequiredService<BitTtt.Inference.Llama>().Dispose();   // a real fault: every generation now throws ObjectDisposedException
        var (openAiStatus, openAi) = await server.PostAsync("/v1/chat/completions", new { messages = new[] { User("hi") }, max_tokens = 3 });
        Assert.AreEqual(500, openAiStatus);
        Assert.AreEqual("server_error", (string)openAi["error"]!["type"]!);
        var (ourStatus, ours) = await server.PostAsync("/v1/complete", new { prompt = "hi", maxTokens = 3 });
        Assert.AreEqual(500, ourStatus);
        Assert.AreEqual(500, (int)ours["status"]!);   // PostAsync already checked that neither body holds a stack trace
        Assert.IsGreaterThanOrEqualTo(2, logs.Entries.Count(e => e.Level == LogLevel.Error && e.Exception is ObjectDisposedException), logs.All);
        using var ready = await server.Http.GetAsync("/health/ready");
        Assert.AreEqual(503, (int)ready.StatusCode);
        StringAssert.Contains(await ready.Content.ReadAsStringAsync(), "the model is disposed");
    }

    [TestMethod]
    public async Task MetricsAreScrapedAtMetrics()
    {
        await using var server = await WebServer.StartAsync();
        for (int i = 0; i < 2; i++)
            Assert.AreEqual(200, (await server.PostAsync("/v1/chat/completions", new { messages = new[] { User("The whale?") }, max_tokens = 5 })).Status);
        using var response = await server.Http.GetAsync("/metrics");
        Assert.AreEqual(200, (int)response.StatusCode);
        string text = await response.Content.ReadAsStringAsync();
        foreach (string metric in new[]
        {
            "bitttt_tokens_completion_total", "bitttt_tokens_prompt_total", "bitttt_generation_time_to_first_token_seconds_bucket",
            "bitttt_generation_duration_seconds_count", "bitttt_prefix_cache_hits_total", "bitttt_prefix_cache_misses_total",
            "bitttt_sessions_active", "http_server_request_duration_seconds_bucket", "aspnetcore_rate_limiting_active_request_leases",
        })
            StringAssert.Contains(text, metric, $"/metrics lacks {metric}:\n{text[..Math.Min(text.Length, 3000)]}");
    }

    [TestMethod]
    public async Task WithAnOtlpEndpointTracesMetricsAndLogsAreExportedWithoutPromptText()
    {
        // A loopback OTLP/HTTP receiver: it keeps what the exporter posts to /v1/traces, /v1/metrics and /v1/logs.
        var received = new ConcurrentDictionary<string, ConcurrentQueue<byte[]>>();
        var receiverBuilder = WebApplication.CreateSlimBuilder();
        receiverBuilder.WebHost.UseUrls("http://127.0.0.1:0");
        receiverBuilder.Logging.ClearProviders();
        await using var receiver = receiverBuilder.Build();
        receiver.MapPost("/v1/{signal}", async (string signal, HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            received.GetOrAdd(signal, _ => new()).Enqueue(body.ToArray());
            return Results.Ok();
        });
        await receiver.StartAsync();
        string otlp = receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();

        const string secret = "Queequeg harpooned the blubber";
        string completion;
        await using (var server = await WebServer.StartAsync($"--OTEL_EXPORTER_OTLP_ENDPOINT={otlp}", "--OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
            "--OTEL_METRIC_EXPORT_INTERVAL=200", "--OTEL_BSP_SCHEDULE_DELAY=200", "--OTEL_BLRP_SCHEDULE_DELAY=200", "--Logging:LogLevel:Default=Information"))
        {
            var (status, body) = await server.PostAsync("/v1/complete", new { prompt = secret, maxTokens = 16, temperature = 0 });
            Assert.AreEqual(200, status);
            completion = (string)body["text"]!;
        }   // stopping the app flushes what is left

        string Text(string signal) => string.Concat((received.GetValueOrDefault(signal) ?? new()).Select(b => Encoding.UTF8.GetString(b)));
        StringAssert.Contains(Text("traces"), "bitttt.generate", "no generation span over OTLP");
        StringAssert.Contains(Text("traces"), "gen_ai.usage.output_tokens");
        StringAssert.Contains(Text("metrics"), "bitttt.tokens.completion", "no BitTtt metric over OTLP");
        StringAssert.Contains(Text("logs"), "prompt tokens", "no generation log over OTLP");
        string all = Text("traces") + Text("metrics") + Text("logs");
        Assert.DoesNotContain(secret, all, "the prompt went out over OTLP");
        if (completion.Trim().Length >= 12) Assert.DoesNotContain(completion, all, "the completion went out over OTLP");
        await receiver.StopAsync();
    }

    [TestMethod]
    public async Task LogsCarryCountsButNeitherPromptNorCompletionUnlessContentLoggingIsOn()
    {
        const string secret = "Queequeg harpooned the blubber";
        async Task<(LogSink Logs, List<string> Completions)> Run(bool logContent)
        {
            var logs = new LogSink();
            var completions = new List<string>();
            await using var server = await WebServer.StartAsync(logs, "--Logging:LogLevel:Default=Trace", $"--Api:LogContent={logContent}");
            completions.Add((string)(await server.PostAsync("/v1/complete", new { prompt = secret, maxTokens = 16, temperature = 0 })).Body["text"]!);
            completions.Add((string)(await server.PostAsync("/v1/chat", new { messages = new[] { User(secret) }, maxTokens = 16, temperature = 0 })).Body["text"]!);
            var openAi = (await server.PostAsync("/v1/chat/completions", new { messages = new[] { User(secret) }, max_tokens = 16, temperature = 0 })).Body;
            completions.Add((string)openAi["choices"]![0]!["message"]!["content"]!);
            using (var stream = await server.OpenStreamAsync(new { messages = new[] { User(secret) }, maxTokens = 16, temperature = 0, stream = true }))
                completions.Add((await stream.ReadToEndAsync()).Text);
            return (logs, completions);
        }

        var (quiet, texts) = await Run(logContent: false);
        Assert.HasCount(4, quiet.Entries.Where(e => e.Message.Contains("prompt tokens")), quiet.All);
        Assert.DoesNotContain(secret, quiet.All, "the prompt is in the logs");
        foreach (string text in texts.Where(t => t.Trim().Length >= 12))
            Assert.DoesNotContain(text, quiet.All, "a completion is in the logs");

        var (loud, loudTexts) = await Run(logContent: true);
        var content = loud.Entries.Where(e => e.Message.Contains("Api:LogContent is on")).ToList();
        Assert.HasCount(4, content, loud.All);
        Assert.IsTrue(content.All(e => e.Message.Contains(secret)));
        foreach (string text in loudTexts) Assert.IsTrue(content.Any(e => e.Message.Contains(text)), $"'{text}' is not in the content logs");
    }
}
