using BitTtt.Inference;

namespace BitTtt.Inference.Tests;

/// <summary>
/// Session states copied in memory, and the prefix cache built on them: a stateless client resending a conversation's
/// whole history gets exactly the text it gets without the cache, while most of each prompt is restored, not fed.
/// </summary>
[TestClass]
public sealed class PrefixStateCacheTests
{
    // Sampled (not greedy), with a repetition penalty: the restored recent-token window matters too.
    static readonly SamplingOptions Sampling = new() { MaxTokens = 12, Temperature = 0.9f, TopK = 0, TopP = 0.95f, RepetitionPenalty = 1.3f, StopStrings = ["\nUser:"] };

    static readonly string[] Questions =
    [
        "the whale swam", "was the sea calm?", "héllo wörld", "and the white whale", "naïve café", "你好 whale",
        "the sea was calm and the whale was white.", "🎉", "swam in the sea", "was it white?",
    ];

    public static IEnumerable<object[]> Models() =>
    [
        [new TestDataRow<bool>(false) { ArgumentsDisplayName = "reconstruct" }],
        [new TestDataRow<bool>(true) { ArgumentsDisplayName = "delta" }],
    ];

    static Llama Create(bool delta) => delta ? TinyLlama.CreateDelta(seed: 3) : TinyLlama.Create(seed: 3);

    [TestMethod]
    [DynamicData(nameof(Models))]
    public void ARestoredStateContinuesExactlyAsTheCapturedSession(bool delta)
    {
        using var llama = Create(delta);
        using var original = llama.CreateSession();
        original.Learn("the sea was calm and the whale was white. the whale swam");
        var state = original.CaptureState();
        Assert.AreEqual(original.Position, state.Position);
        Assert.IsGreaterThan(0L, state.SizeInBytes);
        string expected = original.Complete(" in the", Sampling with { Seed = 9 });

        using var other = llama.CreateSession();
        other.Learn("something else entirely");
        other.RestoreState(state);
        Assert.AreEqual(state.Position, other.Position);
        Assert.AreEqual(expected, other.Complete(" in the", Sampling with { Seed = 9 }));
        // The state is a copy: the sessions went on, and it still gives the same continuation, also with no prompt at all.
        other.RestoreState(state);
        var fromLogits = other.Generate("", Sampling with { Seed = 4 });
        original.RestoreState(state);
        Assert.AreEqual(fromLogits, original.Generate("", Sampling with { Seed = 4 }));
    }

    [TestMethod]
    public void AStateOfAnotherModelOrFromAnEmptySessionIsHandled()
    {
        using var a = TinyLlama.Create(seed: 1);
        using var b = TinyLlama.Create(seed: 2);
        using var session = a.CreateSession();
        session.Learn("the whale");
        var state = session.CaptureState();
        using var other = b.CreateSession();
        other.Learn("the sea");
        long before = other.Position;
        var e = Assert.ThrowsExactly<ArgumentException>(() => other.RestoreState(state));
        StringAssert.Contains(e.Message, "different model");
        Assert.AreEqual(before, other.Position, "a rejected state changed the session");

        var empty = a.CreateSession().CaptureState();
        session.RestoreState(empty);
        Assert.AreEqual(0L, session.Position);
        Assert.ThrowsExactly<ArgumentException>(() => session.Generate(""), "an empty state has no logits to continue from");
    }

    [TestMethod]
    [DynamicData(nameof(Models))]
    public async Task TenStatelessTurnsGiveTheSameTextWithAndWithoutTheCache(bool delta)
    {
        using var plain = Create(delta);
        using var cached = Create(delta);
        var cache = cached.EnablePrefixCache();
        string history = "System: answer briefly.\n";
        int reusedLastTurn = 0;
        for (int turn = 0; turn < Questions.Length; turn++)
        {
            history += $"User: {Questions[turn]}\nAssistant:";
            var options = Sampling with { Seed = 100 + turn };
            var without = await plain.CompleteAsync(history, options);
            var with = await cached.CompleteAsync(history, options);
            Assert.AreEqual(without.Text, with.Text, $"turn {turn + 1}");
            Assert.AreEqual(without.CompletionTokens, with.CompletionTokens, $"turn {turn + 1}");
            Assert.AreEqual(without.FinishReason, with.FinishReason, $"turn {turn + 1}");
            Assert.AreEqual(without.PromptTokens, with.PromptTokens, "prompt tokens count the whole prompt, cached or fed");
            Assert.AreEqual(0, without.CachedPromptTokens);
            reusedLastTurn = with.CachedPromptTokens;
            history += with.Text + "\n";
        }
        Assert.AreEqual(1, cache.Misses, "only the first turn should find nothing");
        Assert.AreEqual(Questions.Length - 1, cache.Hits);
        Assert.IsGreaterThan(cached.Tokenizer.Encode(history).Length / 2, reusedLastTurn, "the tenth turn fed most of its history again");
    }

    [TestMethod]
    public async Task TheSamePromptAgainFeedsOnlyItsLastTokenAndGivesTheSameText()
    {
        using var llama = TinyLlama.Create(seed: 5);
        var cache = llama.EnablePrefixCache();
        var options = Sampling with { Seed = 2 };
        var first = await llama.CompleteAsync("User: the whale\nAssistant:", options);
        var again = await llama.CompleteAsync("User: the whale\nAssistant:", options);
        Assert.AreEqual(first.Text, again.Text);
        Assert.AreEqual(first.PromptTokens - 1, again.CachedPromptTokens, "all but the prompt's last token came from the cache");
        // Streaming takes the same path and reports the cached tokens on its last update.
        var last = await llama.GenerateStreamingAsync("User: the whale\nAssistant:", options).LastAsync();
        Assert.AreEqual(first.PromptTokens - 1, last.CachedPromptTokens);
        Assert.AreEqual(2, cache.Hits);
    }

    [TestMethod]
    public async Task EntriesAreBoundedByCountAndBytesAndTheLeastRecentlyUsedGoes()
    {
        using var llama = TinyLlama.Create(seed: 6);
        var options = SamplingOptions.Greedy(4);
        string a = "whale swam", b = "sea was calm", c = "héllo wörld";   // no two begin with the same token
        // Each generation stores two entries: after its prompt (but the last token) and after its response.
        var cache = llama.EnablePrefixCache(maxEntries: 4);
        await llama.CompleteAsync(a, options);
        await llama.CompleteAsync(b, options);
        Assert.AreEqual(4, cache.Count);
        await llama.CompleteAsync(a, options);   // a hit, and a's entries are now the most recently used
        Assert.AreEqual(1, cache.Hits);
        await llama.CompleteAsync(c, options);   // pushes out b's two entries, not a's
        Assert.AreEqual(4, cache.Count);
        long hits = cache.Hits, misses = cache.Misses;
        await llama.CompleteAsync(a, options);
        Assert.AreEqual(hits + 1, cache.Hits, "a's entries were evicted, though used more recently than b's");
        await llama.CompleteAsync(b, options);
        Assert.AreEqual(misses + 1, cache.Misses, "b's entries were kept, though used less recently than a's");

        long oneEntry = cache.Bytes / cache.Count;
        var small = llama.EnablePrefixCache(maxBytes: oneEntry * 3 / 2);
        await llama.CompleteAsync(a, options);
        await llama.CompleteAsync(b, options);
        Assert.AreEqual(1, small.Count);
        Assert.IsLessThanOrEqualTo(small.MaxBytes, small.Bytes);
        Assert.ThrowsExactly<OptionException>(() => llama.EnablePrefixCache(maxEntries: 0));
    }

    [TestMethod]
    public async Task ACancelledGenerationKeepsOnlyThePromptsState()
    {
        using var llama = TinyLlama.Create(seed: 7);
        var cache = llama.EnablePrefixCache();
        using var cts = new CancellationTokenSource();
        await Assert.ThrowsAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in llama.GenerateStreamingAsync("the whale swam in the sea", Sampling with { MaxTokens = 1000, StopStrings = [] }, cts.Token))
                cts.Cancel();
        });
        Assert.AreEqual(1, cache.Count, "the state after the prompt is kept, the unfinished response's is not");
        var whole = await llama.CompleteAsync("the whale swam in the sea", Sampling with { Seed = 1 });
        Assert.AreEqual(whole.PromptTokens - 1, whole.CachedPromptTokens);
    }
}
