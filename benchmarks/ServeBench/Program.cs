using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using BitTtt;
using BitTtt.Inference;
using BitTtt.Samples.BusinessApp;
using BitTtt.Tokenization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

// Serving figures, in one process (all traffic on 127.0.0.1), with the engine's defaults:
// (1) the library: one completion alone, then 32 and 64 at once (CompleteAsync): tokens/s in all and the ratio to one;
// (2) samples/BusinessApp on Kestrel: 1, 8, 32 and 64 concurrent clients streaming /v1/chat (SSE): requests/s,
//     tokens/s, and time to first token (the first data event, prompt included), median and 95th percentile.
// Without --model it writes a random-weight model of the default shape (hidden 256, 8 layers, delta TTT, a 16,384-token
// BPE vocabulary trained on data/moby-dick.txt): speed does not depend on what the weights say. The program uses only
// the public API, so the same file builds against an earlier version of the library for a before/after comparison.
//
// (3) with --prefix-reuse, instead: a stateless client (the OpenAI wire, resending the whole history each turn) has a
//     conversation of --turns turns (10) with the app twice at once, prefix cache off and on, and the time to first
//     token of each turn is printed side by side; the rounds (--rounds, 3) give a median per turn (its own smaller
//     model: hidden 256, 4 layers, delta, a 2,048-token vocabulary).
//
// Usage: dotnet run -c Release --project benchmarks/ServeBench [-- --model PATH] [--tokens N] [--quick] [--ttt-type reconstruct]
//        dotnet run -c Release --project benchmarks/ServeBench -- --prefix-reuse [--model PATH] [--turns N] [--rounds N] [--tokens N]

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
string? model = Arg("--model");
int tokens = int.Parse(Arg("--tokens") ?? "32");
bool quick = args.Contains("--quick");
string tttType = Arg("--ttt-type") ?? "delta";
string work = Path.Combine(Path.GetTempPath(), $"servebench-{Environment.ProcessId}");
Directory.CreateDirectory(work);
try
{
    if (args.Contains("--prefix-reuse"))
    {
        await PrefixReuse(model ?? WriteRandomModel(work, "delta", layers: 4, vocab: 2048, text: 200_000), int.Parse(Arg("--turns") ?? "10"), int.Parse(Arg("--rounds") ?? "3"), tokens);
        return;
    }
    model ??= WriteRandomModel(work, tttType);
    Console.WriteLine($"model {model}, {tokens} tokens per request, {Environment.ProcessorCount} logical cores, load average {LoadAverage()} " +
        "(machine shared: compare ratios within this run)");
    using (var llama = Llama.LoadAuto(model))
    {
        Console.WriteLine($"  {llama.Config.TttType} {llama.Config.HiddenDim} x {llama.Config.NumLayers}, vocab {llama.Config.VocabSize}");
        await Generations(llama, 4, tokens);   // warm-up (JIT), not reported
        for (int round = 0; round < (quick ? 1 : 3); round++)
        {
            var one = await Generations(llama, 1, tokens);
            var many = await Generations(llama, 32, tokens);
            var most = await Generations(llama, 64, tokens);
            Console.WriteLine($"library: 1 generation {one.TokensPerSecond:F0} tok/s | 32 at once {many.TokensPerSecond:F0} tok/s ({many.TokensPerSecond / one.TokensPerSecond:F2}x), " +
                $"first piece {many.MeanFirstMs:F0} ms | 64 at once {most.TokensPerSecond:F0} tok/s ({most.TokensPerSecond / one.TokensPerSecond:F2}x), first piece {most.MeanFirstMs:F0} ms");
        }
    }
    await Serve(model, tokens, quick);
    Console.WriteLine($"load average at the end {LoadAverage()}");
}
finally
{
    Directory.Delete(work, recursive: true);
}

string? Arg(string name) => Array.IndexOf(args, name) is int i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

static string WriteRandomModel(string dir, string tttType, int layers = 8, int vocab = 16384, int text = int.MaxValue)
{
    string book = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "moby-dick.txt"));
    string json = RandomModel.TrainTokenizer([book[..Math.Min(text, book.Length)]], vocabSize: vocab);
    int ids = BitLlamaTokenizer.FromJson(json).VocabSize;
    var config = tttType == "reconstruct"
        ? new BitLlamaConfig { VocabSize = ids, HiddenDim = 256, NumLayers = layers, InnerLr = 0.1f, TttChunk = 16 }
        : new BitLlamaConfig { VocabSize = ids, HiddenDim = 256, NumLayers = layers, InnerLr = 1f, TttChunk = 16, TttType = TttType.Delta };
    return RandomModel.Create(config, seed: 1, json).WriteBitt(Path.Combine(dir, "bench.bitt"));
}

static async Task<(double TokensPerSecond, double MeanFirstMs)> Generations(Llama llama, int count, int tokens)
{
    var options = new SamplingOptions { MaxTokens = tokens, Temperature = 0.8f };
    var clock = Stopwatch.StartNew();
    var firsts = new double[count];
    var totals = new int[count];
    await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
    {
        using var session = llama.CreateSession();
        await foreach (var update in session.GenerateStreamingAsync("The whale", options with { Seed = i }))
        {
            if (totals[i] == 0 && update.Text.Length > 0) firsts[i] = clock.Elapsed.TotalMilliseconds;
            totals[i] = update.CompletionTokens;
        }
    }));
    double seconds = clock.Elapsed.TotalSeconds;
    return (totals.Sum() / seconds, firsts.Average());
}

static async Task Serve(string model, int tokens, bool quick)
{
    var app = BusinessApi.Build(["--model", model, "--urls", "http://127.0.0.1:0", "--environment", "Production",
        "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft.AspNetCore=Error", "--Api:MaxConcurrentRequests=128",
        "--BitLlama:MaxConversations=512", "--BitLlama:StartConversations=false"]);
    await app.StartAsync();
    try
    {
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(5) };
        await StreamOnce(http, tokens, 0);   // warm-up: JIT, the first conversation
        Console.WriteLine("| concurrent clients | requests | requests/s | tokens/s | first token median | first token p95 |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (int clients in new[] { 1, 8, 32, 64 })
        {
            int perClient = Math.Max(1, (quick ? 64 : 128) / clients);
            var ttft = new List<double>();
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
            {
                for (int r = 0; r < perClient; r++)
                {
                    double first = await StreamOnce(http, tokens, c * 1000 + r);
                    lock (ttft) ttft.Add(first);
                }
            })));
            double seconds = clock.Elapsed.TotalSeconds;
            int requests = clients * perClient;
            ttft.Sort();
            Console.WriteLine($"| {clients} | {requests} | {requests / seconds:F1} | {requests * tokens / seconds:F0} | {ttft[ttft.Count / 2]:F0} ms | {ttft[(int)Math.Ceiling(ttft.Count * 0.95) - 1]:F0} ms |");
        }
    }
    finally
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}

// One streamed chat request; returns the milliseconds to its first data event. The whole stream is read.
static async Task<double> StreamOnce(HttpClient http, int tokens, int seed)
{
    var clock = Stopwatch.StartNew();
    var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat")
    {
        Content = JsonContent.Create(new { messages = new[] { new { role = "user", content = "Tell me of the whale." } }, maxTokens = tokens, temperature = 0.8, seed, stream = true }),
    };
    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    response.EnsureSuccessStatusCode();
    using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
    double first = -1;
    for (string? line = await reader.ReadLineAsync(); line is not null; line = await reader.ReadLineAsync())
    {
        if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
        if (first < 0) first = clock.Elapsed.TotalMilliseconds;
        if (line == "data: [DONE]") break;
    }
    return first;
}

// A stateless client's conversation, on two apps at once (prefix cache off, on): each turn resends the whole history
// to /v1/chat/completions (streamed, with usage) and the time to its first data event is taken. Per turn: the median
// over the rounds, the prompt tokens and how many the cache held.
static async Task PrefixReuse(string model, int turns, int rounds, int tokens)
{
    string book = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "moby-dick.txt"));
    var lines = book.ReplaceLineEndings(" ").Split(". ").Select(l => l.Trim() + ".").Where(l => l.Length is > 150 and < 250).Skip(100).ToArray();
    async Task<WebApplication> Start(int entries)
    {
        var app = BusinessApi.Build(["--model", model, "--urls", "http://127.0.0.1:0", "--environment", "Production",
            "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft.AspNetCore=Error", $"--BitLlama:PrefixCacheEntries={entries}"]);
        await app.StartAsync();
        return app;
    }
    await using var off = await Start(0);
    await using var on = await Start(64);
    HttpClient Client(WebApplication app) => new() { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()) };
    using var httpOff = Client(off);
    using var httpOn = Client(on);
    Console.WriteLine($"model {model}; {turns} turns of a 150-250-character question and a {tokens}-token answer, {rounds} rounds (+1 warm-up); " +
        $"{Environment.ProcessorCount} logical cores (machine shared: compare the columns within this run)");
    var ttft = new List<double>[turns, 2];
    var usage = new (int Prompt, int Cached)[turns];
    for (int t = 0; t < turns; t++) { ttft[t, 0] = []; ttft[t, 1] = []; }
    for (int round = -1; round < rounds; round++)
    {
        // Each round its own conversation (its own first line), so the cache never helps across rounds.
        var history = new List<object> { new { role = "system", content = $"Conversation {round + 2}. You answer in the words of the book." } };
        for (int t = 0; t < turns; t++)
        {
            history.Add(new { role = "user", content = lines[(round + 1) * turns + t] });
            object body = new { messages = history.ToArray(), max_tokens = tokens, temperature = 0.8, seed = t, stream = true, stream_options = new { include_usage = true } };
            var (msOff, textOff, _, _) = await StreamChat(httpOff, body);
            var (msOn, textOn, prompt, cached) = await StreamChat(httpOn, body);
            if (textOn != textOff) throw new InvalidOperationException($"turn {t + 1}: the cached answer differs from the uncached one");
            if (round >= 0)
            {
                ttft[t, 0].Add(msOff);
                ttft[t, 1].Add(msOn);
                usage[t] = (prompt, cached);
            }
            history.Add(new { role = "assistant", content = textOff });
        }
    }
    Console.WriteLine("| turn | prompt tokens | of them cached | first token, no reuse | first token, prefix reuse | ratio |");
    Console.WriteLine("|---|---|---|---|---|---|");
    for (int t = 0; t < turns; t++)
    {
        double a = Median(ttft[t, 0]), b = Median(ttft[t, 1]);
        Console.WriteLine($"| {t + 1} | {usage[t].Prompt} | {usage[t].Cached} | {a:F1} ms | {b:F1} ms | {a / b:F2} |");
    }
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

// One streamed chat completion: milliseconds to the first data event, the text, and the usage's prompt and cached tokens.
static async Task<(double Ms, string Text, int Prompt, int Cached)> StreamChat(HttpClient http, object body)
{
    var clock = Stopwatch.StartNew();
    var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(body) };
    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    response.EnsureSuccessStatusCode();
    using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
    double first = -1;
    var text = new System.Text.StringBuilder();
    int prompt = 0, cached = 0;
    for (string? line = await reader.ReadLineAsync(); line is not null; line = await reader.ReadLineAsync())
    {
        if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
        if (first < 0) first = clock.Elapsed.TotalMilliseconds;
        if (line == "data: [DONE]") break;
        var chunk = System.Text.Json.Nodes.JsonNode.Parse(line["data: ".Length..])!;
        foreach (var choice in chunk["choices"]!.AsArray()) text.Append((string?)choice!["delta"]!["content"]);
        if (chunk["usage"] is { } u)
        {
            prompt = (int)u["prompt_tokens"]!;
            cached = (int)u["prompt_tokens_details"]!["cached_tokens"]!;
        }
    }
    return (first, text.ToString(), prompt, cached);
}
