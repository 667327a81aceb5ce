using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BitTtt.Tests.Shared;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace BitTtt.Extensions.AI.Tests;

/// <summary>
/// Stopping the app: generations still running after Api:ShutdownGracePeriod are cancelled, each stream ends with a final
/// event saying so and then [DONE], a plain request gets 503, readiness fails meanwhile, and the process exits 0.
/// </summary>
[TestClass]
public sealed partial class ShutdownTests
{
    const int Endless = 1_000_000;
    static object User(string text) => new { role = "user", content = text };

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
    const int SigTerm = 15;

    /// <summary>Opens the streams and the plain request whose ends the shutdown decides; each stream has sent its first event and all four run.</summary>
    static async Task<(List<SseStream> Streams, Task<HttpResponseMessage> Plain)> StartGenerations(HttpClient http)
    {
        async Task<SseStream> Open(string path, object body)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, options: JsonSerializerOptions.Web) };
            var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.AreEqual(200, (int)response.StatusCode, $"{path}: {await response.Content.ReadAsStringAsync()}");
            return new SseStream(response, await response.Content.ReadAsStreamAsync());
        }
        var streams = new List<SseStream>
        {
            await Open("/v1/chat", new { messages = new[] { User("Go on.") }, maxTokens = Endless, temperature = 0, stream = true }),
            await Open("/v1/chat/completions", new { messages = new[] { User("Go on.") }, max_tokens = Endless, temperature = 0, stream = true }),
            await Open("/v1/completions", new { prompt = "The whale", max_tokens = Endless, temperature = 0, stream = true }),
        };
        var plain = http.PostAsJsonAsync("/v1/complete", new { prompt = "The whale", maxTokens = Endless, temperature = 0 });
        foreach (var s in streams) Assert.IsNotNull(await s.NextAsync());
        for (int i = 0; i < 600 && ActiveGenerations(await http.GetFromJsonAsync<JsonObject>("/health/ready")) < 4; i++) await Task.Delay(50);
        Assert.AreEqual(4, ActiveGenerations(await http.GetFromJsonAsync<JsonObject>("/health/ready")), "the four generations did not all start");
        return (streams, plain);
    }

    static int ActiveGenerations(JsonObject? ready) => (int)ready!["checks"]!["model"]!["data"]!["activeGenerations"]!;

    /// <summary>Reads every stream to its end (so the server never waits on a full socket) and checks each ended as the shutdown says.</summary>
    static async Task ExpectStoppedByTheShutdown(List<SseStream> streams, Task<HttpResponseMessage> plain, Stopwatch sinceStop, TimeSpan grace)
    {
        async Task<(string? Last, TimeSpan At)> Drain(SseStream s)
        {
            string? last = null, data;
            while ((data = await s.NextAsync()) is not null && data != "[DONE]") last = data;
            Assert.AreEqual("[DONE]", data, "the stream was cut without [DONE]");
            return (last, sinceStop.Elapsed);
        }
        var ends = await Task.WhenAll(streams.Select(Drain));
        var chat = JsonNode.Parse(ends[0].Last!)!;
        Assert.AreEqual("shutdown", (string?)chat["finishReason"], ends[0].Last);
        StringAssert.Contains((string)chat["detail"]!, "shutting down");
        foreach (var (last, _) in ends.Skip(1))
            Assert.AreEqual("server_shutting_down", (string?)JsonNode.Parse(last!)!["error"]!["code"], last);
        foreach (var (_, at) in ends)
            Assert.IsGreaterThan(grace * 0.8, at, "a stream was stopped before the grace period was over");
        using var response = await plain;
        Assert.AreEqual(503, (int)response.StatusCode);
        StringAssert.Contains((string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["detail"]!, "shutting down");
        foreach (var s in streams) s.Dispose();
    }

    [TestMethod]
    public async Task StoppingTheHostFailsReadinessThenStopsGenerationsAfterTheGracePeriod()
    {
        var grace = TimeSpan.FromSeconds(1);
        await using var server = await WebServer.StartAsync($"--Api:MaxTokensPerRequest={Endless}", $"--Api:ShutdownGracePeriod={grace}");
        var (streams, plain) = await StartGenerations(server.Http);
        var sinceStop = Stopwatch.StartNew();
        server.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();   // what SIGTERM does; the server keeps serving meanwhile
        using (var ready = await server.Http.GetAsync("/health/ready"))
        {
            Assert.AreEqual(503, (int)ready.StatusCode);
            StringAssert.Contains(await ready.Content.ReadAsStringAsync(), "stopping");
        }
        Assert.AreEqual(200, (int)(await server.Http.GetAsync("/health")).StatusCode, "liveness does not depend on the stop");
        await ExpectStoppedByTheShutdown(streams, plain, sinceStop, grace);
        Assert.AreEqual(0, server.Stats.ActiveGenerations);
    }

    [TestMethod]
    public async Task SigtermStopsGenerationsAfterTheGracePeriodAndTheProcessExitsZero()
    {
        var grace = TimeSpan.FromSeconds(2);
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}") ? "Debug" : "Release";
        string dll = Path.Combine(RepositoryRoot.Path, "samples", "BusinessApp", "bin", configuration, "net10.0", "BusinessApp.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { dll, "--model", TestModel.BittPath, "--urls", "http://127.0.0.1:0", $"--Api:MaxTokensPerRequest={Endless}", $"--Api:ShutdownGracePeriod={grace}" })
            psi.ArgumentList.Add(a);
        using var app = Process.Start(psi)!;
        var output = new ConcurrentQueue<string>();
        var address = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var stdout = Task.Run(async () =>
        {
            while (await app.StandardOutput.ReadLineAsync() is { } line)
            {
                output.Enqueue(line);
                if (Regex.Match(line, @"Now listening on: (http://127\.0\.0\.1:\d+)") is { Success: true } m) address.TrySetResult(m.Groups[1].Value);
            }
            address.TrySetException(new AssertFailedException("the app ended before it listened"));
        });
        var stderr = app.StandardError.ReadToEndAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(await address.Task.WaitAsync(TimeSpan.FromMinutes(2))), Timeout = TimeSpan.FromMinutes(2) };
            var (streams, plain) = await StartGenerations(http);
            var sinceStop = Stopwatch.StartNew();
            Assert.AreEqual(0, kill(app.Id, SigTerm), $"kill failed: errno {Marshal.GetLastPInvokeError()}");
            await ExpectStoppedByTheShutdown(streams, plain, sinceStop, grace);
            await app.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
            await stdout;
            string log = string.Join("\n", output);
            Assert.AreEqual(0, app.ExitCode, $"{log}\n{await stderr}");
            StringAssert.Contains(log, "Stopping: 4 generations running get 2 s to finish");
            StringAssert.Contains(log, "Grace period over: stopping the 4 generations still running");
            Assert.DoesNotContain("   at ", log + await stderr, "a stack trace in the app's output");
        }
        finally
        {
            if (!app.HasExited) app.Kill(entireProcessTree: true);
            await app.WaitForExitAsync();
        }
    }
}
