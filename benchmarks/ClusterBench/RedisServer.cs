using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace ClusterBench;

/// <summary>A private redis-server on a free 127.0.0.1 port, without persistence, stopped (by its PID) with the benchmark.</summary>
internal sealed class RedisServer : IAsyncDisposable
{
    readonly Process _process;
    readonly ConnectionMultiplexer _connection;

    RedisServer(Process process, int port, ConnectionMultiplexer connection) => (_process, Endpoint, _connection) = (process, $"127.0.0.1:{port}", connection);

    public string Endpoint { get; }

    public static async Task<RedisServer> StartAsync(string directory)
    {
        int port = FreePort();
        var psi = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start redis-server (apt-get install redis-server)");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        for (int i = 0; ; i++)
        {
            try { return new RedisServer(process, port, await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port}")); }
            catch (RedisConnectionException) when (i < 100 && !process.HasExited) { await Task.Delay(50); }
        }
    }

    /// <summary>The bytes of a hash field's value (what Redis holds for a grain state's data).</summary>
    public async Task<long> StoredBytesAsync(string key) => await _connection.GetDatabase().HashStringLengthAsync(key, "data");

    /// <summary>Mean ms of an HSET of <paramref name="bytes"/> random bytes, straight through StackExchange.Redis (no Orleans).</summary>
    public async Task<double> PlainWriteMsAsync(long bytes, int times)
    {
        var value = new byte[bytes];
        Random.Shared.NextBytes(value);
        var db = _connection.GetDatabase();
        await db.HashSetAsync("plain-write", "data", value);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < times; i++) await db.HashSetAsync("plain-write", "data", value);
        double ms = clock.Elapsed.TotalMilliseconds / times;
        await db.KeyDeleteAsync("plain-write");
        return ms;
    }

    /// <summary>Empties the server between runs, so each cluster starts from nothing.</summary>
    public async Task FlushAsync() => await _connection.GetDatabase().ExecuteAsync("FLUSHALL");

    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        await _connection.DisposeAsync();
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
