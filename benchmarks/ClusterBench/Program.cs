using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using BitTtt;
using BitTtt.Extensions.AI;
using BitTtt.Formats;
using BitTtt.Orleans;
using BitTtt.Tokenization;
using ClusterBench;
using Microsoft.Extensions.AI;
using StackExchange.Redis;

// Cluster figures for docs/cluster.md, all traffic on 127.0.0.1 with a private redis-server (Debian's package):
// (1) bytes per conversation at the default shape (hidden 256, 8 layers), delta and reconstruct: the memory file and
//     what Redis holds for it (the grain state, Orleans' binary serializer);
// (2) a memory save per turn (serialize the session's memory, write it through Orleans grain storage) beside the turn;
// (3) streaming through the grain: time per piece direct (BitLlamaChatClient) vs through the grain on the same silo
//     vs on another silo (two silos in this process, Orleans messaging over loopback TCP);
// (4) samples/BusinessApp as separate processes: one instance without cluster, 1 and 3 instances in cluster mode,
//     concurrent clients streaming multi-turn conversations spread over the instances: requests/s, first token.
// Models: random weights (speed and sizes do not depend on what the weights say), a 2,048-token BPE vocabulary.
//
// Usage: dotnet run -c Release --project benchmarks/ClusterBench [-- --quick] [--clients N] [--tokens N] [--only storage|streaming|serving]

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
bool quick = args.Contains("--quick");
int clients = int.Parse(Arg("--clients") ?? "8");
int tokens = int.Parse(Arg("--tokens") ?? "32");
string? only = Arg("--only");
bool Run(string section) => only is null || only == section;
string work = Directory.CreateTempSubdirectory("clusterbench-").FullName;
try
{
    Console.WriteLine($"{Environment.ProcessorCount} logical cores (a shared machine: compare figures within this run)");
    string tokenizer = Tokenizer();
    string delta = Model(work, "delta", tokenizer, Default(tokenizer) with { TttType = TttType.Delta });
    string reconstruct = Model(work, "reconstruct", tokenizer, Default(tokenizer));
    string tiny = Model(work, "tiny", tokenizer, Default(tokenizer) with { HiddenDim = 64, NumLayers = 2, TttType = TttType.Delta });
    await using var redis = await RedisServer.StartAsync(work);

    if (Run("storage"))
    {
        Console.WriteLine("\n## Bytes per conversation and a memory save per turn (1 silo, Redis storage)\n");
        Console.WriteLine("| TTT type (default shape) | memory file | stored in Redis | save per turn, mean | of which memory to bytes | a plain Redis HSET of as many bytes | turn (prompt + " + tokens + " tokens), mean | save / turn |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (var (name, model) in new[] { ("delta", delta), ("reconstruct", reconstruct) })
            await Saves(name, model, redis, quick ? 6 : 20, tokens);
    }
    if (Run("streaming"))
    {
        Console.WriteLine("\n## Streaming through the grain: time per piece of a streamed turn, median of the rounds\n");
        Console.WriteLine("| model | direct | grain, same silo | grain, other silo | overhead per piece (same / other) |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var (name, model) in new[] { ("hidden 64, 2 layers", tiny), ("default shape (delta)", delta) })
            await Streaming(name, model, redis, quick ? 5 : 21, quick ? 64 : 128);
    }
    if (!Run("serving")) return;
    Console.WriteLine($"\n## samples/BusinessApp: {clients} concurrent clients, conversations of 4 streamed turns, {tokens} tokens each\n");
    Console.WriteLine("| instances | requests | requests/s | first token median | first token p95 | failed |");
    Console.WriteLine("|---|---|---|---|---|---|");
    int conversations = quick ? clients * 2 : clients * 6;
    await Serving(delta, redis, work, instances: 1, cluster: false, clients, conversations, tokens);
    await Serving(delta, redis, work, instances: 1, cluster: true, clients, conversations, tokens);
    await Serving(delta, redis, work, instances: 3, cluster: true, clients, conversations, tokens);
}
finally
{
    Directory.Delete(work, recursive: true);
}

string? Arg(string name) => Array.IndexOf(args, name) is int i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

static string Tokenizer()
{
    string book = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "moby-dick.txt"));
    return BpeTrainer.TrainFromTexts([book[..200_000]], new BpeTrainerOptions { VocabSize = 2048 });
}

// The shape `bit-llama train` and BitLlamaOptions give a new model (hidden 256, 8 layers, 4 TTT heads).
static BitLlamaConfig Default(string tokenizer) =>
    new() { VocabSize = BitLlamaTokenizer.FromJson(tokenizer).VocabSize, HiddenDim = 256, NumLayers = 8, InnerLr = 0.1f, TttChunk = 4, TttHeads = 4, TttConv = 4 };

static string Model(string dir, string name, string tokenizer, BitLlamaConfig config) =>
    RandomModel.Create(config, seed: 1, tokenizerJson: tokenizer).WriteBitt(Path.Combine(dir, name + ".bitt"));

static ChatOptions Turn(string? id, int tokens) => new() { ConversationId = id, MaxOutputTokens = tokens, Temperature = 0.8f, Seed = 1, StopSequences = ["\u0001"] };

static async Task Saves(string name, string model, RedisServer redis, int turns, int tokens)
{
    var saves = new List<double>();
    using var listener = new MeterListener();
    listener.InstrumentPublished = (i, l) => { if (i.Name == "bitttt.memory.save.duration") l.EnableMeasurementEvents(i); };
    listener.SetMeasurementEventCallback<double>((_, seconds, _, _) => { lock (saves) saves.Add(seconds * 1000); });
    listener.Start();
    await using var silo = await LocalSilo.StartAsync(model, redis.Endpoint, "saves-" + name);
    var chat = silo.Chat;
    string? id = (await chat.GetResponseAsync([new ChatMessage(ChatRole.User, "Call me Ishmael.")], Turn(null, tokens))).ConversationId;
    lock (saves) saves.Clear();
    var clock = Stopwatch.StartNew();
    for (int t = 0; t < turns; t++)
        await chat.GetResponseAsync([new ChatMessage(ChatRole.User, $"Tell me of the whale, part {t}.")], Turn(id, tokens));
    double turnMs = clock.Elapsed.TotalMilliseconds / turns;
    var (file, serializeMs) = silo.MemoryToBytes(turns);
    long stored = await redis.StoredBytesAsync($"saves-{name}/state/bitllama-conversation/{id}/conversation");
    double plainMs = await redis.PlainWriteMsAsync(file, turns);
    double save;
    lock (saves) save = saves.Average();
    Console.WriteLine($"| {name} | {file:N0} B | {stored:N0} B | {save:F2} ms | {serializeMs:F2} ms | {plainMs:F2} ms | {turnMs:F0} ms | {save / turnMs:P1} |");
}

static async Task Streaming(string name, string model, RedisServer redis, int rounds, int tokens)
{
    await using var a = await LocalSilo.StartAsync(model, redis.Endpoint, "stream");
    await using var b = await LocalSilo.StartAsync(model, redis.Endpoint, "stream");
    using var direct = a.Local;
    var (d, s, o) = (new List<double>(), new List<double>(), new List<double>());
    for (int round = -1; round < rounds; round++)   // round -1 warms up (JIT, first activation), not counted
    {
        // The same turns on each path, in turn, so a busy moment of the machine hits all three alike: a first turn,
        // then a streamed turn whose pieces are timed.
        double direct1 = await PerPiece(direct, direct, tokens);
        double same1 = await PerPiece(a.Chat, a.Chat, tokens);    // placed on a (the caller's silo), streamed from a
        double other1 = await PerPiece(b.Chat, a.Chat, tokens);   // placed on b, streamed to a over loopback TCP
        if (round < 0) continue;
        d.Add(direct1); s.Add(same1); o.Add(other1);
    }
    // The overhead is the median of each round's difference: the three paths of one round ran moments apart.
    double sameOverhead = Median(s.Zip(d, (x, y) => x - y).ToList()), otherOverhead = Median(o.Zip(d, (x, y) => x - y).ToList());
    Console.WriteLine($"| {name} | {Median(d) * 1000:F0} µs | {Median(s) * 1000:F0} µs | {Median(o) * 1000:F0} µs | {sameOverhead * 1000:F0} / {otherOverhead * 1000:F0} µs |");
}

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

// Starts a conversation through `starter`, streams its second turn through `streamer`: ms per piece.
static async Task<double> PerPiece(IChatClient starter, IChatClient streamer, int tokens)
{
    string? id = (await starter.GetResponseAsync([new ChatMessage(ChatRole.User, "Call me Ishmael.")], Turn(null, 4))).ConversationId;
    int pieces = 0;
    var clock = Stopwatch.StartNew();
    await foreach (var u in streamer.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Tell me of the whale.")], Turn(id, tokens)))
        if (u.Text.Length > 0) pieces++;
    return clock.Elapsed.TotalMilliseconds / Math.Max(pieces, 1);
}

static async Task Serving(string model, RedisServer redis, string work, int instances, bool cluster, int clients, int conversations, int tokens)
{
    await redis.FlushAsync();
    var apps = Enumerable.Range(0, instances).Select(i => AppInstance.Start(model, cluster ? redis.Endpoint : null, work, i)).ToArray();
    try
    {
        await Task.WhenAll(apps.Select(a => a.WaitReadyAsync()));
        await Load.RunAsync(apps, clients, Math.Max(clients, 4), tokens);   // warm-up: JIT, first activations
        var result = await Load.RunAsync(apps, clients, conversations, tokens);
        Console.WriteLine($"| {instances}{(cluster ? " (cluster)" : " (one process, no cluster)")} | {result.Requests} | {result.PerSecond:F1} | " +
            $"{result.FirstMedian:F0} ms | {result.FirstP95:F0} ms | {result.Failed} |");
        if (result.Failed > 0)
            foreach (var app in apps)
                foreach (string line in app.Problems()) Console.Error.WriteLine("  " + line);
    }
    finally
    {
        foreach (var app in apps) await app.DisposeAsync();
    }
}
