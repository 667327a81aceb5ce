using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using BitTtt.Samples.BusinessApp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BitTtt.Extensions.AI.Tests;

/// <summary>The real BusinessApp on Kestrel at 127.0.0.1 (a free port), and a client for it.</summary>
internal sealed class WebServer : IAsyncDisposable
{
    readonly WebApplication _app;

    WebServer(WebApplication app, Uri address)
    {
        _app = app;
        Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(2) };
    }

    public HttpClient Http { get; }
    public GenerationStats Stats => _app.Services.GetRequiredService<GenerationStats>();

    public Uri Address => Http.BaseAddress!;
    public IServiceProvider Services => _app.Services;

    public static Task<WebServer> StartAsync(params string[] settings) => StartAsync(null, settings);

    /// <summary>Starts the app; with <paramref name="logs"/>, the log records the configured levels let through go there too.</summary>
    public static async Task<WebServer> StartAsync(LogSink? logs, params string[] settings)
    {
        string[] args = ["--model", TestModel.BittPath, "--urls", "http://127.0.0.1:0", "--environment", "Production",
            "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft.AspNetCore=Error", .. settings];
        var app = BusinessApi.Build(args, logs is null ? null : builder => builder.Logging.AddProvider(logs));
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        StringAssert.StartsWith(address, "http://127.0.0.1:");
        return new WebServer(app, new Uri(address));
    }

    public async Task<(int Status, JsonObject Body)> PostAsync(string path, object body)
    {
        using var response = await Http.PostAsJsonAsync(path, body, JsonSerializerOptions.Web);
        return ((int)response.StatusCode, await ReadObject(response));
    }

    public async Task<(int Status, JsonObject Body)> PostRawAsync(string path, string json)
    {
        using var response = await Http.PostAsync(path, new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        return ((int)response.StatusCode, await ReadObject(response));
    }

    public static async Task<JsonObject> ReadObject(HttpResponseMessage response)
    {
        string text = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("   at ", text, "a stack trace in a response");
        return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>Opens an SSE chat stream (headers read, body not yet).</summary>
    public Task<SseStream> OpenStreamAsync(object body, CancellationToken cancellationToken = default) => OpenStreamAsync("/v1/chat", body, cancellationToken);

    /// <summary>Opens an SSE stream from <paramref name="path"/> (headers read, body not yet).</summary>
    public async Task<SseStream> OpenStreamAsync(string path, object body, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, options: JsonSerializerOptions.Web) };
        var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        return new SseStream(response, await response.Content.ReadAsStreamAsync(cancellationToken));
    }

    /// <summary>The readiness check's answer (it lists the model and what runs).</summary>
    public async Task<JsonObject> HealthAsync() => (await Http.GetFromJsonAsync<JsonObject>("/health/ready"))!;

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Reads <c>data:</c> events one at a time.</summary>
internal sealed class SseStream(HttpResponseMessage response, Stream body) : IDisposable
{
    readonly StreamReader _reader = new(body);

    public HttpResponseMessage Response => response;

    /// <summary>The next event's data, or null at the end of the stream.</summary>
    public async Task<string?> NextAsync()
    {
        string? line;
        while ((line = await _reader.ReadLineAsync()) is not null)
            if (line.StartsWith("data: ", StringComparison.Ordinal)) return line["data: ".Length..];
        return null;
    }

    /// <summary>All events to [DONE]: the concatenated text and the final event.</summary>
    public async Task<(string Text, JsonObject Final, int Events)> ReadToEndAsync(string? first = null)
    {
        var text = new System.Text.StringBuilder();
        JsonObject? final = null;
        int events = 0;
        for (string? data = first ?? await NextAsync(); data is not null; data = await NextAsync())
        {
            if (data == "[DONE]") return (text.ToString(), final ?? throw new AssertFailedException("no final event before [DONE]"), events);
            var e = JsonNode.Parse(data)!.AsObject();
            text.Append((string)e["text"]!);
            if (e.ContainsKey("finishReason")) final = e;
            events++;
        }
        throw new AssertFailedException("the stream ended without [DONE]");
    }

    public void Dispose()
    {
        _reader.Dispose();
        response.Dispose();
    }
}
