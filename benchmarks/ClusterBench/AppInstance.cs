using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.RegularExpressions;

namespace ClusterBench;

/// <summary>One samples/BusinessApp process on 127.0.0.1 (in cluster mode when given a Redis endpoint); its output goes to a log file.</summary>
internal sealed partial class AppInstance : IAsyncDisposable
{
    readonly Process _process;
    readonly string _log;
    readonly bool _cluster;
    readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    AppInstance(Process process, string log, bool cluster) => (_process, _log, _cluster) = (process, log, cluster);

    public HttpClient Http { get; private set; } = null!;

    public static AppInstance Start(string model, string? redis, string work, int index)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "BusinessApp.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        var args = new List<string> { dll, "--model", model, "--urls", "http://127.0.0.1:0", "--environment", "Production",
            "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information",
            "--Api:MaxConcurrentRequests=256", "--BitLlama:MaxConversations=4096" };
        if (redis is not null)
            args.AddRange(["--cluster", redis, "--silo-address", "127.0.0.1", "--silo-port", RedisServer.FreePort().ToString(),
                           "--gateway-port", RedisServer.FreePort().ToString(), "--Orleans:ClusterId=bench" + (redis.GetHashCode() & 0xffff)]);
        foreach (string a in args) psi.ArgumentList.Add(a);
        var app = new AppInstance(Process.Start(psi)!, Path.Combine(work, $"app-{index}-{Guid.NewGuid():N}.log"), redis is not null);
        app._process.OutputDataReceived += (_, e) => app.Line(e.Data);
        app._process.ErrorDataReceived += (_, e) => app.Line(e.Data);
        app._process.BeginOutputReadLine();
        app._process.BeginErrorReadLine();
        return app;
    }

    void Line(string? line)
    {
        if (line is null) return;
        lock (_log) File.AppendAllText(_log, line + Environment.NewLine);
        if (Listening().Match(line) is { Success: true } m) _listening.TrySetResult(new Uri(m.Groups[1].Value));
    }

    [GeneratedRegex(@"Now listening on: (http://127\.0\.0\.1:\d+)")]
    private static partial Regex Listening();

    /// <summary>Listening, and (in cluster mode) its silo answering: an unknown conversation gets 404.</summary>
    public async Task WaitReadyAsync()
    {
        var started = Stopwatch.StartNew();
        if (await Task.WhenAny(_listening.Task, Task.Delay(TimeSpan.FromMinutes(2))) != _listening.Task)
            throw new InvalidOperationException($"BusinessApp did not start: {File.ReadAllText(_log)}");
        Http = new HttpClient { BaseAddress = await _listening.Task, Timeout = TimeSpan.FromMinutes(5) };
        while (_cluster)
        {
            using var response = await Http.PostAsJsonAsync("/v1/chat", new { conversationId = "none", messages = new[] { new { role = "user", content = "?" } } });
            if ((int)response.StatusCode == 404) break;
            if (started.Elapsed > TimeSpan.FromMinutes(2)) throw new InvalidOperationException($"the silo did not come up: {File.ReadAllText(_log)}");
            await Task.Delay(200);
        }
    }

    /// <summary>The warnings and errors the instance logged (the benchmark prints them when a request failed).</summary>
    public IEnumerable<string> Problems()
    {
        lock (_log)
            return File.Exists(_log) ? File.ReadAllLines(_log).Where(l => l.StartsWith("warn:") || l.StartsWith("fail:") || l.Contains("Exception")).Take(40).ToList() : [];
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
