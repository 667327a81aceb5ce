using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace BitTtt.Orleans.Tests;

/// <summary>
/// A private <c>redis-server</c> (Debian's package) on a free 127.0.0.1 port, no persistence of its own
/// (<c>--save "" --appendonly no</c>). <see cref="StopAsync"/> shuts it down writing its data to its own folder, and
/// <see cref="StartAgainAsync"/> brings it back on the same port with that data: a Redis outage and its recovery.
/// </summary>
internal sealed class RedisServer : IAsyncDisposable
{
    readonly string _dir;
    Process? _process;

    RedisServer(int port, string dir) => (Port, _dir) = (port, dir);

    public int Port { get; }
    public string Endpoint => $"127.0.0.1:{Port}";
    /// <summary>The server's log (its stdout and stderr), to print when a test fails.</summary>
    public string LogPath => Path.Combine(_dir, "redis.log");

    public static async Task<RedisServer> StartAsync()
    {
        var server = new RedisServer(FreePort(), Directory.CreateTempSubdirectory("bitttt-redis-").FullName);
        await server.StartAgainAsync();
        return server;
    }

    public async Task StartAgainAsync()
    {
        string exe = Find("redis-server") ?? throw new AssertFailedException(
            "redis-server is not installed: apt-get install -y --no-install-recommends redis-server (.ci/run does this)");
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                     "--dir", _dir, "--dbfilename", "dump.rdb", "--protected-mode", "yes" })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, e) => Log(e.Data);
        process.ErrorDataReceived += (_, e) => Log(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        var deadline = Stopwatch.StartNew();
        while (await PingAsync() is false)
        {
            if (process.HasExited || deadline.Elapsed > TimeSpan.FromSeconds(20))
                throw new AssertFailedException($"redis-server did not start on {Endpoint}: {File.ReadAllText(LogPath)}");
            await Task.Delay(50);
        }
    }

    /// <summary>Stops the server (SHUTDOWN SAVE: its data is written to its folder first) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        if (_process is null) return;
        await SendAsync("SHUTDOWN SAVE");
        if (!_process.WaitForExit(TimeSpan.FromSeconds(20))) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }

    public async Task<bool> PingAsync() => (await SendAsync("PING"))?.StartsWith("+PONG", StringComparison.Ordinal) == true;

    /// <summary>One inline command; the first line of the answer, or null when nothing answers.</summary>
    public async Task<string?> SendAsync(string command)
    {
        try
        {
            using var client = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await client.ConnectAsync(IPAddress.Loopback, Port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), timeout.Token);
            var buffer = new byte[256];
            int n = await stream.ReadAsync(buffer, timeout.Token);
            return n == 0 ? "" : Encoding.ASCII.GetString(buffer, 0, n).Split("\r\n")[0];
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException) { return null; }
    }

    void Log(string? line)
    {
        if (line is null) return;
        lock (_dir) File.AppendAllText(LogPath, line + Environment.NewLine);
    }

    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/bin").Append("/usr/sbin")
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            await p.WaitForExitAsync();
        }
        _process?.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
