using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace BitTtt.Extensions.AI.Tests;

/// <summary>
/// HTTP/1.1 over a plain socket, for requests HttpClient will not send: a Content-Length that the body does not match, a
/// body streamed while the server has already answered.
/// </summary>
internal static class RawHttp
{
    /// <summary>
    /// Sends <c>POST path</c> with <paramref name="headers"/> (each ending in CRLF), then <paramref name="body"/> in the
    /// background (the server may answer and close before it is all sent), and reads the response.
    /// </summary>
    public static async Task<(int Status, string ContentType, string Body)> PostAsync(Uri server, string path, string headers, Func<Stream, Task> body)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port, timeout.Token);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST {path} HTTP/1.1\r\nHost: {server.Authority}\r\nContent-Type: application/json\r\n{headers}\r\n"), timeout.Token);
        var sending = Task.Run(async () =>
        {
            try { await body(stream); }
            catch (IOException) { }   // the server closed the connection after answering
            catch (ObjectDisposedException) { }
        });
        var response = await ReadResponseAsync(stream, timeout.Token);
        tcp.Close();
        await sending;
        return response;
    }

    /// <summary>
    /// Writes about <paramref name="bytes"/> bytes in chunked encoding, 16 KB a chunk: the start of a JSON object with one
    /// long string, valid as far as it goes, so a server parsing it must read on (and meet the size limit) to find fault.
    /// </summary>
    public static async Task WriteChunkedAsync(Stream stream, long bytes)
    {
        var start = "{\"prompt\": \""u8.ToArray();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"{start.Length:x}\r\n"));
        await stream.WriteAsync(start);
        await stream.WriteAsync("\r\n"u8.ToArray());
        var chunk = Encoding.ASCII.GetBytes(new string('a', 16 << 10));
        for (long sent = start.Length; sent < bytes; sent += chunk.Length)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"{chunk.Length:x}\r\n"));
            await stream.WriteAsync(chunk);
            await stream.WriteAsync("\r\n"u8.ToArray());
        }
        await stream.WriteAsync("0\r\n\r\n"u8.ToArray());
    }

    static async Task<(int, string, string)> ReadResponseAsync(Stream stream, CancellationToken cancellationToken)
    {
        var reader = new BufferedReader(stream, cancellationToken);
        string status = await reader.LineAsync();
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (string line = await reader.LineAsync(); line.Length > 0; line = await reader.LineAsync())
            headers[line[..line.IndexOf(':')]] = line[(line.IndexOf(':') + 1)..].Trim();
        var body = new MemoryStream();
        if (headers.TryGetValue("Content-Length", out var length))
            await reader.CopyAsync(body, int.Parse(length));
        else if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked"))
            for (int size = Convert.ToInt32(await reader.LineAsync(), 16); size > 0; size = Convert.ToInt32(await reader.LineAsync(), 16))
            {
                await reader.CopyAsync(body, size);
                await reader.LineAsync();
            }
        int code = int.Parse(Regex.Match(status, @"^HTTP/1\.\d (\d{3})").Groups[1].Value);
        return (code, headers.GetValueOrDefault("Content-Type", ""), Encoding.UTF8.GetString(body.ToArray()));
    }

    sealed class BufferedReader(Stream stream, CancellationToken cancellationToken)
    {
        readonly byte[] _buffer = new byte[64 << 10];
        int _start, _end;

        async Task<bool> FillAsync()
        {
            if (_start == _end) _start = _end = 0;
            int n = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
            _end += n;
            return n > 0;
        }

        public async Task<string> LineAsync()
        {
            var line = new StringBuilder();
            while (true)
            {
                for (; _start < _end; _start++)
                {
                    char c = (char)_buffer[_start];
                    if (c == '\n') { _start++; return line.ToString().TrimEnd('\r'); }
                    line.Append(c);
                }
                if (!await FillAsync()) throw new EndOfStreamException($"the connection closed inside a line: '{line}'");
            }
        }

        public async Task CopyAsync(Stream to, int count)
        {
            while (count > 0)
            {
                if (_start == _end && !await FillAsync()) throw new EndOfStreamException($"the connection closed with {count} body bytes unread");
                int n = Math.Min(count, _end - _start);
                to.Write(_buffer, _start, n);
                _start += n;
                count -= n;
            }
        }
    }
}
