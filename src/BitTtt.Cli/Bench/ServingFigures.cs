using System.Diagnostics;
using System.Text.Json.Nodes;
using BitTtt.Inference;
using BitTtt.Tokenization;

namespace BitTtt.Cli.Bench;

/// <summary>
/// What <c>bit-llama bench</c> measures through the library, as an application sees it: completions sampled with the
/// library's default settings (temperature 0.8, top-k 40, top-p 0.95, repetition penalty 1.1), one session alone and
/// many at once (the model's scheduler decodes them together), and the time to first token of a short prompt while
/// other sessions decode. Also the packed file's load time and resident memory, in a fresh process.
/// </summary>
internal static class ServingFigures
{
    /// <summary>
    /// A byte-level BPE tokenizer of <paramref name="vocab"/> ids learned from made-up words, so a random model of the
    /// default shape samples over a realistic 16k-token vocabulary (the sampler's work grows with it).
    /// </summary>
    public static string Tokenizer(int vocab)
    {
        var rng = new Random(5);
        string[] syllables = ["ka", "lo", "mi", "su", "te", "ra", "ven", "dor", "il", "ush", "pe", "qua", "zin", "bo", "gre", "ath", "ne", "ho", "wy", "fi"];
        var text = new System.Text.StringBuilder();
        for (int i = 0; i < 150_000; i++)
        {
            for (int s = 0, n = 1 + rng.Next(4); s < n; s++) text.Append(syllables[rng.Next(syllables.Length)]);
            text.Append(i % 13 == 12 ? ".\n" : " ");
        }
        return BpeTrainer.TrainFromTexts([text.ToString()], new BpeTrainerOptions { VocabSize = Math.Max(vocab, 300), MinFrequency = 1 });
    }

    /// <summary>Completion tokens per second of one session alone and of <paramref name="sessions"/> at once; best of <paramref name="repeats"/>.</summary>
    public static (double Single, double Concurrent) Decode(Llama llama, int tokens, int sessions, int repeats)
    {
        var options = llama.DefaultSampling with { MaxTokens = tokens };
        async Task<double> Run(int count)
        {
            var clock = Stopwatch.StartNew();
            var results = await Task.WhenAll(Enumerable.Range(0, count).Select(i => llama.CompleteAsync("The whale", options with { Seed = i })));
            return results.Sum(r => r.CompletionTokens) / clock.Elapsed.TotalSeconds;
        }
        Run(Math.Min(4, sessions)).GetAwaiter().GetResult();   // warm-up: JIT, the scheduler's and the team's threads
        double single = 0, concurrent = 0;
        for (int i = 0; i < repeats; i++)   // in turns, so a burst of load hits both alike
        {
            single = Math.Max(single, Run(1).GetAwaiter().GetResult());
            concurrent = Math.Max(concurrent, Run(sessions).GetAwaiter().GetResult());
        }
        return (single, concurrent);
    }

    /// <summary>
    /// Milliseconds from the call to the first streamed piece of a completion of a <paramref name="promptTokens"/>-token
    /// prompt, while <paramref name="background"/> other sessions decode without pause; median and 95th percentile of
    /// <paramref name="probes"/> probes, one after another.
    /// </summary>
    public static (double P50, double P95) TimeToFirstToken(Llama llama, int promptTokens, int background, int probes)
    {
        var rng = new Random(9);
        string prompt = PromptOf(llama.Tokenizer, promptTokens, rng);
        using var stop = new CancellationTokenSource();
        int started = 0;
        var decoding = Enumerable.Range(0, background).Select(i => Task.Run(async () =>
        {
            try
            {
                bool first = true;
                await foreach (var _ in llama.CompleteStreamingAsync("The whale", llama.DefaultSampling with { MaxTokens = 1_000_000, Seed = i }, stop.Token))
                    if (first) { first = false; Interlocked.Increment(ref started); }
            }
            catch (OperationCanceledException) { }
        })).ToArray();
        while (Volatile.Read(ref started) < background) Thread.Sleep(1);
        var times = new List<double>();
        for (int p = 0; p < probes; p++)
        {
            var clock = Stopwatch.StartNew();
            var e = llama.CompleteStreamingAsync(prompt, llama.DefaultSampling with { MaxTokens = 4, Seed = p }).GetAsyncEnumerator();
            try
            {
                if (e.MoveNextAsync().AsTask().GetAwaiter().GetResult()) times.Add(clock.Elapsed.TotalMilliseconds);
            }
            finally { e.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
        }
        stop.Cancel();
        Task.WaitAll(decoding);
        times.Sort();
        return (times[times.Count / 2], times[Math.Max(0, (int)Math.Ceiling(times.Count * 0.95) - 1)]);
    }

    /// <summary>A text that encodes to about <paramref name="tokens"/> tokens: random ids decoded, re-encoded and cut.</summary>
    static string PromptOf(BitLlamaTokenizer tokenizer, int tokens, Random rng)
    {
        var ids = Enumerable.Range(0, tokens).Select(_ => 256 + rng.Next(tokenizer.VocabSize - 256)).ToArray();
        var encoded = tokenizer.Encode(tokenizer.Decode(ids));
        return tokenizer.Decode(encoded[..Math.Min(tokens, encoded.Length)]);
    }

    /// <summary>Loads <paramref name="path"/> in a fresh <c>bit-llama</c> process (<c>bench --load-probe</c>): load ms and resident MB after it; best of three.</summary>
    public static (double LoadMs, double RssMb) LoadInFreshProcess(string path)
    {
        double load = double.MaxValue, rss = double.MaxValue;
        for (int i = 0; i < 3; i++)
        {
            var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true };
            if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") psi.ArgumentList.Add(typeof(ServingFigures).Assembly.Location);
            foreach (var a in new[] { "bench", "--load-probe", path }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            string errors = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"the load probe failed: {errors}");
            var json = JsonNode.Parse(output)!;
            load = Math.Min(load, json["load_ms"]!.GetValue<double>());
            rss = Math.Min(rss, json["rss_mb"]!.GetValue<double>());
        }
        return (load, rss);
    }

    /// <summary>The probe itself: load, measure, print <c>{"load_ms": …, "rss_mb": …}</c>.</summary>
    public static int LoadProbe(string path)
    {
        var clock = Stopwatch.StartNew();
        using var llama = Llama.LoadAuto(path);
        double ms = clock.Elapsed.TotalMilliseconds;
        Console.WriteLine(new JsonObject { ["load_ms"] = Math.Round(ms, 1), ["rss_mb"] = Math.Round(BenchFigures.RssMb(), 1) }.ToJsonString());
        GC.KeepAlive(llama);
        return 0;
    }
}
