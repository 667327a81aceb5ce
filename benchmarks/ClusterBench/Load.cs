using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace ClusterBench;

/// <summary>
/// Concurrent clients, each running conversations of four streamed turns; turn t of conversation c goes to instance
/// (c + t) mod n, so with several instances most turns continue a conversation another instance started.
/// </summary>
internal static class Load
{
    public sealed record Result(int Requests, double PerSecond, double FirstMedian, double FirstP95, int Failed);

    static readonly string[] Turns = ["Call me Ishmael.", "Tell me of the whale.", "Where did the ship sail?", "And then?"];

    public static async Task<Result> RunAsync(AppInstance[] apps, int clients, int conversations, int tokens)
    {
        int next = -1, failed = 0;
        var firsts = new List<double>();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            for (int c; (c = Interlocked.Increment(ref next)) < conversations;)
            {
                string? id = null;
                for (int t = 0; t < Turns.Length; t++)
                {
                    double first;
                    string? conversation;
                    try { (first, conversation) = await TurnAsync(apps[(c + t) % apps.Length].Http, id, Turns[t], tokens, seed: c * 10 + t); }
                    catch (Exception e) when (e is HttpRequestException or IOException) { (first, conversation) = (-1, null); }
                    if (first < 0) { Interlocked.Increment(ref failed); break; }
                    id ??= conversation;
                    lock (firsts) firsts.Add(first);
                }
            }
        })));
        double seconds = clock.Elapsed.TotalSeconds;
        firsts.Sort();
        return new Result(firsts.Count, firsts.Count / seconds, firsts[firsts.Count / 2], firsts[(int)Math.Ceiling(firsts.Count * 0.95) - 1], failed);
    }

    /// <summary>One streamed turn: ms to its first data event (-1 if it failed) and the conversation id its final event names.</summary>
    static async Task<(double First, string? Id)> TurnAsync(HttpClient http, string? id, string text, int tokens, int seed)
    {
        var clock = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat")
        {
            Content = JsonContent.Create(new { conversationId = id, startConversation = id is null, messages = new[] { new { role = "user", content = text } }, maxTokens = tokens, temperature = 0.8, seed, stream = true }),
        };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (!response.IsSuccessStatusCode) return (-1, null);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double first = -1;
        string? conversation = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            if (first < 0) first = clock.Elapsed.TotalMilliseconds;
            if (line == "data: [DONE]") break;
            if (JsonNode.Parse(line[6..])!["conversationId"] is { } c) conversation = (string)c!;
        }
        return (conversation is null ? -1 : first, conversation);
    }
}
