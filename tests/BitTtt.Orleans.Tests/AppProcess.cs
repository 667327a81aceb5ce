using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BitTtt.Tests.Shared;

namespace BitTtt.Orleans.Tests;

/// <summary>
/// One copy of samples/BusinessApp in cluster mode, as its own process (<c>dotnet BusinessApp.dll</c>) on 127.0.0.1,
/// its output written to a log file that <see cref="ClusterProcessTests"/> prints when a test fails.
/// </summary>
internal sealed partial class AppProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly object _log = new();

    AppProcess(string name, Process process, string logPath, int siloPort)
    {
        Name = name;
        _process = process;
        LogPath = logPath;
        SiloPort = siloPort;
    }

    public string Name { get; }
    public string LogPath { get; }
    public int SiloPort { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public HttpClient Http { get; private set; } = null!;

    /// <summary>The built sample: the same configuration (Release or Debug) as these tests.</summary>
    static string AppDll => Path.Combine(RepositoryRoot.Path, "samples", "BusinessApp", "bin",
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}") ? "Debug" : "Release", "net10.0", "BusinessApp.dll");

    public static AppProcess Start(string name, string model, string redis, string logDirectory, params string[] settings)
    {
        int siloPort = RedisServer.FreePort(), gatewayPort = RedisServer.FreePort();
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string a in new[] { AppDll, "--model", model, "--urls", "http://127.0.0.1:0", "--cluster", redis, "--silo-address", "127.0.0.1",
                                     "--silo-port", siloPort.ToString(), "--gateway-port", gatewayPort.ToString(), "--environment", "Production" }.Concat(settings))
            psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_gcServer"] = "0";
        string logPath = Path.Combine(logDirectory, $"{name}.log");
        var app = new AppProcess(name, Process.Start(psi)!, logPath, siloPort);
        app._process.OutputDataReceived += (_, e) => app.Line(e.Data);
        app._process.ErrorDataReceived += (_, e) => app.Line(e.Data);
        app._process.BeginOutputReadLine();
        app._process.BeginErrorReadLine();
        return app;
    }

    void Line(string? line)
    {
        if (line is null) return;
        lock (_log) File.AppendAllText(LogPath, line + Environment.NewLine);
        if (ListeningLine().Match(line) is { Success: true } m) _listening.TrySetResult(new Uri(m.Groups[1].Value));
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex ListeningLine();

    /// <summary>Waits until Kestrel listens and the silo answers a conversation call (a request for an unknown id gets 404).</summary>
    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var exited = _process.WaitForExitAsync(cancel.Token);
        if (await Task.WhenAny(_listening.Task, exited) != _listening.Task || cancel.IsCancellationRequested)
            throw new AssertFailedException($"{Name} did not start listening within {timeout.TotalSeconds} s{(HasExited ? $" (exit code {ExitCode})" : "")}");
        Http = new HttpClient { BaseAddress = await _listening.Task, Timeout = TimeSpan.FromSeconds(90) };
        while (true)
        {
            var (status, _) = await ChatAsync("not-a-conversation", "ready?");
            if (status == 404) return;
            if (cancel.IsCancellationRequested) throw new AssertFailedException($"{Name}'s silo did not serve conversations within {timeout.TotalSeconds} s (last status {status})");
            await Task.Delay(200);
        }
    }

    static readonly JsonSerializerOptions Json = JsonSerializerOptions.Web;

    /// <summary>
    /// One greedy chat turn (the settings of <see cref="ClusterChatTests.Greedy"/>): status and body. Without an id it asks
    /// to start a conversation (<c>startConversation</c>), as a client that will continue it does.
    /// </summary>
    public async Task<(int Status, JsonObject Body)> ChatAsync(string? conversationId, string text)
    {
        using var response = await Http.PostAsJsonAsync("/v1/chat", Turn(conversationId, text, stream: false), Json);
        string body = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, body.Length == 0 ? new JsonObject() : JsonNode.Parse(body)!.AsObject());
    }

    /// <summary>The same turn streamed (SSE): status, the text of its pieces and the final event.</summary>
    public async Task<(int Status, string Text, JsonObject? Final)> StreamAsync(string conversationId, string text)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat") { Content = JsonContent.Create(Turn(conversationId, text, stream: true), options: Json) };
        using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (!response.IsSuccessStatusCode) return ((int)response.StatusCode, "", null);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var pieces = new System.Text.StringBuilder();
        JsonObject? final = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]") continue;
            var e = JsonNode.Parse(line["data: ".Length..])!.AsObject();
            pieces.Append((string)e["text"]!);
            if (e.ContainsKey("finishReason")) final = e;
        }
        return ((int)response.StatusCode, pieces.ToString(), final);
    }

    static object Turn(string? conversationId, string text, bool stream) => new
    {
        conversationId, startConversation = conversationId is null, stream, maxTokens = 10, temperature = 0, repetitionPenalty = 1.5,
        messages = new[] { new { role = "user", content = text } },
    };

    /// <summary>A health endpoint's status code and JSON (<c>/health</c>: the process answers; <c>/health/ready</c>: every readiness check).</summary>
    public async Task<(int Status, JsonObject Body)> HealthAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        return ((int)response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    /// <summary>The readiness check "model"'s data: the model id, generations running, conversations this copy holds.</summary>
    public async Task<JsonObject> ModelDataAsync() => (await HealthAsync("/health/ready")).Body["checks"]!["model"]!["data"]!.AsObject();

    public void Kill() => _process.Kill();

    /// <summary>SIGTERM: what a service manager sends to stop a process gracefully.</summary>
    public void Terminate()
    {
        if (kill(_process.Id, 15) != 0) throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try { await _process.WaitForExitAsync(cancel.Token); return true; }
        catch (OperationCanceledException) { return false; }
    }

    public string Log()
    {
        lock (_log) return File.Exists(LogPath) ? File.ReadAllText(LogPath) : "(no output)";
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
