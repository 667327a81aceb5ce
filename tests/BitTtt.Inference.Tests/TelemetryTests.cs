using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using BitTtt.Inference;
using BitTtt.Inference.Diagnostics;

namespace BitTtt.Inference.Tests;

/// <summary>What generations, sessions and the prefix cache record on the "BitTtt" meter and activity source.</summary>
[TestClass]
public sealed class TelemetryTests
{
    /// <summary>Every measurement of the BitTtt meter while it is open: sums and counts per instrument.</summary>
    sealed class Recorder : IDisposable
    {
        readonly MeterListener _listener = new();
        public ConcurrentDictionary<string, (double Sum, int Count)> Seen { get; } = new();

        public Recorder()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == BitLlamaTelemetry.Name) listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((i, v, _, _) => Add(i.Name, v));
            _listener.SetMeasurementEventCallback<double>((i, v, _, _) => Add(i.Name, v));
            _listener.Start();
        }

        void Add(string name, double value) => Seen.AddOrUpdate(name, (value, 1), (_, s) => (s.Sum + value, s.Count + 1));

        public double Sum(string name) => Seen.TryGetValue(name, out var s) ? s.Sum : 0;
        public int Count(string name) => Seen.TryGetValue(name, out var s) ? s.Count : 0;

        public void Dispose() => _listener.Dispose();
    }

    [TestMethod]
    public async Task GenerationsRecordTokensTimesSessionsAndCacheLookups()
    {
        using var llama = TinyLlama.Create(seed: 8);
        llama.EnablePrefixCache();
        var options = new SamplingOptions { MaxTokens = 10, Temperature = 0.9f, Seed = 3 };
        using var recorder = new Recorder();
        var first = await llama.CompleteAsync("the whale swam in the sea", options);
        var second = await llama.CompleteAsync("the whale swam in the sea", options);
        Assert.AreEqual(first.CompletionTokens + second.CompletionTokens, recorder.Sum("bitttt.tokens.completion"));
        Assert.AreEqual(2 * first.PromptTokens - second.CachedPromptTokens, recorder.Sum("bitttt.tokens.prompt"), "prompt tokens are those fed");
        Assert.AreEqual(2, recorder.Count("bitttt.generation.time_to_first_token"));
        Assert.AreEqual(2, recorder.Count("bitttt.generation.duration"));
        Assert.AreEqual(new[] { first, second }.Count(r => r.CompletionTokens > 1), recorder.Count("bitttt.generation.tokens_per_second"));
        Assert.AreEqual(1, recorder.Sum("bitttt.prefix_cache.misses"));
        Assert.AreEqual(1, recorder.Sum("bitttt.prefix_cache.hits"));
        Assert.AreEqual(second.CachedPromptTokens, recorder.Sum("bitttt.prefix_cache.reused_tokens"));
        Assert.AreEqual(0, recorder.Sum("bitttt.sessions.active"), "every session that began a call ended it");
        Assert.AreEqual(4, recorder.Count("bitttt.sessions.active"), "one begin and one end per generation");

        using var session = llama.CreateSession();
        session.Learn("the sea");
        string memory = Path.Combine(TempFiles.NewDirectory(), "memory.bttm");
        session.SaveMemory(memory);
        session.LoadMemory(memory);
        Assert.AreEqual(1, recorder.Sum("bitttt.memory.saves"));
        Assert.AreEqual(1, recorder.Sum("bitttt.memory.loads"));
    }

    [TestMethod]
    public async Task EachGenerationIsAnActivityWithItsUsageAndAStoppedOneIsAnError()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == BitLlamaTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        using var llama = TinyLlama.Create(seed: 9);
        using var parent = new Activity("request").Start();
        var result = await llama.CompleteAsync("the whale", new SamplingOptions { MaxTokens = 6, Temperature = 0, Seed = 1 });
        Assert.AreSame(parent, Activity.Current, "a generation does not stay the caller's current activity");
        var done = stopped.Single();
        Assert.AreEqual(BitLlamaTelemetry.GenerationActivityName, done.OperationName);
        Assert.AreEqual(parent.TraceId, done.TraceId, "the generation is a child of the caller's activity");
        Assert.AreEqual(result.PromptTokens, done.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.AreEqual(result.CompletionTokens, done.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.AreEqual(6, done.GetTagItem("gen_ai.request.max_tokens"));
        Assert.AreEqual(ActivityStatusCode.Unset, done.Status);
        Assert.IsTrue(done.Events.Any(e => e.Name == "first_token"));
        llama.Complete("the whale", new SamplingOptions { MaxTokens = 2 });   // on this thread
        Assert.AreSame(parent, Activity.Current, "a synchronous generation does not stay the caller's current activity");
        stopped.Clear();

        using var cts = new CancellationTokenSource();
        await Assert.ThrowsAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in llama.CompleteStreamingAsync("the whale", new SamplingOptions { MaxTokens = 1000, Temperature = 0 }, cts.Token))
                cts.Cancel();
        });
        Assert.AreEqual(ActivityStatusCode.Error, stopped.Single().Status, "a cancelled generation's activity says it stopped early");
    }
}
