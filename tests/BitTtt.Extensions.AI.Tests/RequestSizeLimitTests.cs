using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace BitTtt.Extensions.AI.Tests;

/// <summary>
/// A request body over the limit (Api:MaxRequestBodyBytes, Kestrel's MaxRequestBodySize) is a 413 with problem details
/// (OpenAI's error shape on its endpoints) whatever its size and whether its length is announced, and nothing about it
/// is logged as an error or with a stack trace. Real sockets: the lying Content-Length of the probe cannot be sent by HttpClient.
/// </summary>
[TestClass]
public sealed class RequestSizeLimitTests
{
    const int Limit = 64 << 10;

    [TestMethod]
    public async Task AnOversizedBodyIs413WithProblemDetailsAtEverySizeAndNoStackTraceInTheLog()
    {
        var logs = new LogSink();
        // The log levels of the app's appsettings.json: what a deployment shows.
        await using var server = await WebServer.StartAsync(logs, $"--Api:MaxRequestBodyBytes={Limit}",
            "--Logging:LogLevel:Default=Information", "--Logging:LogLevel:Microsoft.AspNetCore=Warning");

        async Task Expect413(string what, string path, string headers, Func<Stream, Task> body, bool openAi = false)
        {
            var (status, contentType, text) = await RawHttp.PostAsync(server.Address, path, headers, body);
            Assert.AreEqual(413, status, $"{what}: {text}");
            Assert.DoesNotContain("   at ", text, $"{what}: a stack trace in the response");
            var json = JsonNode.Parse(text)!;
            if (openAi)
            {
                Assert.AreEqual("request_too_large", (string?)json["error"]!["code"], what);
                StringAssert.Contains((string)json["error"]!["message"]!, $"{Limit} bytes", what);
            }
            else
            {
                StringAssert.StartsWith(contentType, "application/problem+json", what);
                Assert.AreEqual(413, (int)json["status"]!, what);
                Assert.AreEqual("body", (string?)json["field"], what);
                StringAssert.Contains((string)json["detail"]!, $"{Limit} bytes", what);
            }
        }

        static Func<Stream, Task> Bytes(string text) => s => s.WriteAsync(Encoding.UTF8.GetBytes(text)).AsTask();
        string justOver = $$"""{"prompt": "{{new string('a', Limit)}}"}""";
        // The probe's request: a Content-Length of 31 MB (over Kestrel's default 30 MB too) and a 2-byte body.
        await Expect413("the probe's Content-Length: 31000000", "/v1/complete", "Content-Length: 31000000\r\n", Bytes("{}"));
        await Expect413("one byte over, all sent", "/v1/complete", $"Content-Length: {Encoding.UTF8.GetByteCount(justOver)}\r\n", Bytes(justOver));
        await Expect413("a terabyte announced", "/v1/chat", "Content-Length: 1000000000000\r\n", Bytes("{}"));
        await Expect413("chunked, no length announced", "/v1/chat", "Transfer-Encoding: chunked\r\n", s => RawHttp.WriteChunkedAsync(s, 4L * Limit));
        await Expect413("OpenAI chat, chunked", "/v1/chat/completions", "Transfer-Encoding: chunked\r\n", s => RawHttp.WriteChunkedAsync(s, 2L * Limit), openAi: true);
        await Expect413("OpenAI completions, 31 MB announced", "/v1/completions", "Content-Length: 31000000\r\n", Bytes("{}"), openAi: true);

        // At the limit the body is read: this one is refused for its prompt's length, a 400, not for its size.
        string atLimit = $$"""{"prompt": "{{new string('a', Limit - 14)}}"}""";
        Assert.AreEqual(Limit, Encoding.UTF8.GetByteCount(atLimit));
        var (status, body) = await server.PostRawAsync("/v1/complete", atLimit);
        Assert.AreEqual(400, status, body.ToJsonString());
        Assert.AreEqual("prompt", (string?)body["field"]);
        // And the server still serves.
        Assert.AreEqual(200, (await server.PostAsync("/v1/complete", new { prompt = "The whale", maxTokens = 3 })).Status);

        var bad = logs.Entries.Where(e => e.Level >= LogLevel.Error || e.Exception is not null || e.Everything.Contains("   at ")).ToList();
        Assert.IsEmpty(bad, "logged as an error or with a stack trace:\n" + string.Join("\n", bad.Select(e => $"{e.Level} {e.Category}: {e.Everything}")));
    }
}
