using System.Text;
using BitTtt.Formats;
using BitTtt.Inference;

namespace BitTtt.Inference.Tests;

[TestClass]
public sealed class LlamaTests
{
    string _dir = null!;

    [TestInitialize]
    public void Init() => _dir = TempFiles.NewDirectory();

    static readonly SamplingOptions Sampled = new() { MaxTokens = 24, Temperature = 0.9f, TopK = 20, TopP = 0.9f, Seed = 5 };

    [TestMethod]
    public void LoadAutoReadsBittAndDirectoryAndMatchesFromWeights()
    {
        var c = TinyLlama.Config();
        var tensors = TinyLlama.Tensors(c, 3);
        string bitt = Path.Combine(_dir, "m.bitt"), dir = Path.Combine(_dir, "model");
        ModelPackage.WriteBitt(bitt, c, TinyLlama.TokenizerJson, tensors);
        ModelPackage.WriteDirectory(dir, c, TinyLlama.TokenizerJson, tensors);
        using var fromWeights = Llama.FromWeights(c, TinyLlama.Tokenizer(), tensors);
        using var fromBitt = Llama.LoadAuto(bitt);
        using var fromDir = Llama.LoadAuto(dir);
        int[] ids = fromWeights.Tokenizer.Encode("the whale");
        var expected = fromWeights.CreateSession().Logits(ids);
        CollectionAssert.AreEqual(expected, fromBitt.CreateSession().Logits(ids));
        CollectionAssert.AreEqual(expected, fromDir.CreateSession().Logits(ids));
        Assert.AreEqual(fromWeights.Weights.Fingerprint, fromBitt.Weights.Fingerprint);
        Assert.AreEqual(fromWeights.Complete("the sea", Sampled), fromBitt.Complete("the sea", Sampled));
    }

    [TestMethod]
    public void SameSeedSameTextAndGreedyIsDeterministic()
    {
        using var llama = TinyLlama.Create();
        string a = llama.CreateSession().Complete("the whale", Sampled);
        string b = llama.CreateSession().Complete("the whale", Sampled);
        Assert.AreEqual(a, b);
        Assert.IsGreaterThan(0, a.Length);
        var greedy = SamplingOptions.Greedy(16);
        Assert.AreEqual(llama.CreateSession().Complete("calm", greedy), llama.CreateSession().Complete("calm", greedy));
    }

    [TestMethod]
    public void ParallelSessionsEachGetExactlyTheTextTheyGetAlone()
    {
        using var llama = TinyLlama.Create(seed: 4);
        string[] prompts = ["the whale", "the sea was", "héllo", "white", "café", "calm and", "你好", "swam"];
        var alone = prompts.Select((p, i) => llama.CreateSession().Complete(p, Sampled with { Seed = i })).ToArray();
        var parallel = new string[prompts.Length];
        Parallel.For(0, prompts.Length * 3, new ParallelOptions { MaxDegreeOfParallelism = 8 }, j =>
        {
            int i = j % prompts.Length;
            using var s = llama.CreateSession();
            string text = s.Complete(prompts[i], Sampled with { Seed = i });
            if (j >= prompts.Length) Assert.AreEqual(alone[i], text, $"prompt {i}, run {j}");
            parallel[i] = text;
        });
        CollectionAssert.AreEqual(alone, parallel);
    }

    [TestMethod]
    public void LearnResetAndMemoryFiles()
    {
        using var llama = TinyLlama.Create(seed: 6);
        var greedy = SamplingOptions.Greedy(12);
        using var fresh = llama.CreateSession();
        var freshLogits = fresh.Logits(llama.Tokenizer.Encode("the"));

        using var s = llama.CreateSession();
        s.Learn("the whale swam in the sea. the sea was calm.");
        Assert.IsGreaterThan(0L, s.Position);
        string memory = Path.Combine(_dir, "chat.bttm");
        s.SaveMemory(memory);
        string afterLearn = s.Complete("the", greedy);

        using var restored = llama.CreateSession();
        restored.LoadMemory(memory);
        Assert.AreEqual(afterLearn, restored.Complete("the", greedy));

        s.ResetState();
        Assert.AreEqual(0L, s.Position);
        CollectionAssert.AreEqual(freshLogits, s.Logits(llama.Tokenizer.Encode("the")));
        CollectionAssert.AreNotEqual(freshLogits, LogitsAfterLearn(llama));

        using var other = TinyLlama.Create(seed: 7);
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => other.CreateSession().LoadMemory(memory));
        StringAssert.Contains(e.Message, "another model");
    }

    [TestMethod]
    public void DeltaModelLearnsGeneratesAndRestoresItsMemory()
    {
        using var llama = TinyLlama.CreateDelta(seed: 6);
        var greedy = SamplingOptions.Greedy(12);
        const string text = "the whale swam in the sea. the sea was calm.";
        using var s = llama.CreateSession();
        s.Learn(text);
        Assert.AreEqual((long)llama.Tokenizer.Encode(text).Length, s.Position);
        string memory = Path.Combine(_dir, "delta.bttm");
        s.SaveMemory(memory);
        string afterLearn = s.Complete("the", greedy);
        using var restored = llama.CreateSession();
        restored.LoadMemory(memory);
        Assert.AreEqual(afterLearn, restored.Complete("the", greedy));
        using var fed = llama.CreateSession();   // learning = feeding the same tokens
        fed.Logits(llama.Tokenizer.Encode(text));
        CollectionAssert.AreEqual(LogitsAfterLearn(llama), fed.Logits(llama.Tokenizer.Encode("the")));
        using var fresh = llama.CreateSession();
        CollectionAssert.AreNotEqual(fresh.Logits(llama.Tokenizer.Encode("the")), LogitsAfterLearn(llama));
        Assert.AreEqual(llama.CreateSession().Complete("the sea", Sampled), llama.CreateSession().Complete("the sea", Sampled));
        using var reconstruct = TinyLlama.Create(seed: 6);
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => reconstruct.CreateSession().LoadMemory(memory));
        StringAssert.Contains(e.Message, "ttt_type \"delta\"");
    }

    static float[] LogitsAfterLearn(Llama llama)
    {
        using var s = llama.CreateSession();
        s.Learn("the whale swam in the sea. the sea was calm.");
        return s.Logits(llama.Tokenizer.Encode("the"));
    }

    [TestMethod]
    public void StreamingStopsWhenTheCallbackSaysSoAndAsyncMatchesComplete()
    {
        using var llama = TinyLlama.Create(seed: 8);
        int calls = 0;
        llama.CreateSession().StreamCompletion("the sea", 30, 0f, _ => ++calls < 3);
        Assert.AreEqual(3, calls);
        var pieces = new List<string>();
        var task = Task.Run(async () =>
        {
            await foreach (var p in llama.CreateSession().CompleteStreamingAsync("the sea", Sampled)) pieces.Add(p);
        });
        task.Wait();
        Assert.AreEqual(llama.CreateSession().Complete("the sea", Sampled), string.Concat(pieces));
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsExactly<OperationCanceledException>(() => llama.CreateSession().CompleteStreamingAsync("the sea", Sampled, cts.Token)
            .GetAsyncEnumerator().MoveNextAsync().AsTask().GetAwaiter().GetResult());
    }

    [TestMethod]
    public void OverlappingCallsOnOneSessionAreRejectedNotCorrupted()
    {
        using var llama = TinyLlama.Create(seed: 12);
        using var s = llama.CreateSession();
        Exception? inner = null;
        s.StreamCompletion("the sea", 5, 0f, _ =>
        {
            inner = Assert.ThrowsExactly<InvalidOperationException>(() => s.Learn("the whale"));
            return false;
        });
        StringAssert.Contains(inner!.Message, "CreateSession");
        s.Learn("the whale");   // free again once the first call returned
    }

    [TestMethod]
    public void StreamedPiecesNeverSplitACharacter()
    {
        using var llama = TinyLlama.Create(seed: 9);
        for (int seed = 0; seed < 10; seed++)
        {
            var options = new SamplingOptions { MaxTokens = 40, Temperature = 1.5f, TopK = 0, TopP = 1, Seed = seed };
            var pieces = llama.CreateSession().CompleteStreamingAsync("你好 🎉", options).ToBlockingEnumerable().ToList();
            Assert.AreEqual(llama.CreateSession().Complete("你好 🎉", options), string.Concat(pieces));
            foreach (var p in pieces)
                for (int i = 0; i < p.Length; i++)
                {
                    if (char.IsHighSurrogate(p[i])) { Assert.IsTrue(i + 1 < p.Length && char.IsLowSurrogate(p[i + 1]), $"piece '{p}' ends inside a surrogate pair"); i++; }
                    else Assert.IsFalse(char.IsLowSurrogate(p[i]), $"piece '{p}' starts inside a surrogate pair");
                }
        }
    }

    [TestMethod]
    public void StopStringsEndTheTextBeforeThem()
    {
        using var llama = TinyLlama.Create(seed: 10);
        var greedy = SamplingOptions.Greedy(40);
        string full = llama.CreateSession().Complete("the whale", greedy);
        Assert.IsGreaterThan(6, full.Length, full);
        string stop = full.Substring(full.Length / 2, 2);
        string cut = llama.CreateSession().Complete("the whale", greedy with { StopStrings = [stop] });
        Assert.AreEqual(full[..full.IndexOf(stop, StringComparison.Ordinal)], cut);
    }

    [TestMethod]
    public void BadInputIsAClearError()
    {
        using var llama = TinyLlama.Create();
        using var s = llama.CreateSession();
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => s.Complete("")).Message, "prompt is empty");
        Assert.AreEqual("Temperature", Assert.ThrowsExactly<OptionException>(() => s.Complete("x", new SamplingOptions { Temperature = -1 })).ParamName);
        Assert.AreEqual("TopP", Assert.ThrowsExactly<OptionException>(() => s.Complete("x", new SamplingOptions { TopP = 0 })).ParamName);
        Assert.ThrowsExactly<OptionException>(() => s.StreamCompletion("x", 10, -0.5f, _ => true));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => s.Logits([llama.Config.VocabSize + 5]));
        s.Learn("the sea");
        Assert.IsNotNull(s.Complete("", SamplingOptions.Greedy(3)));   // continues from the learned context
        var c = TinyLlama.Config();
        var tensors = TinyLlama.Tensors(c, 1);
        tensors.RemoveAt(3);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Llama.FromWeights(c, TinyLlama.Tokenizer(), tensors)).Message, "is missing");
        var small = c with { VocabSize = 100 };
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => Llama.FromWeights(small, TinyLlama.Tokenizer(), TinyLlama.Tensors(small, 1))).Message, "tokenizer");
        Assert.ThrowsExactly<FileNotFoundException>(() => Llama.LoadAuto(Path.Combine(_dir, "missing.bitt")));
        string bitt = Path.Combine(_dir, "cut.bitt");
        ModelPackage.WriteBitt(bitt, c, TinyLlama.TokenizerJson, TinyLlama.Tensors(c, 1));
        var bytes = File.ReadAllBytes(bitt);
        File.WriteAllBytes(bitt, bytes[..(bytes.Length - 100)]);
        var cut = Assert.ThrowsExactly<BitLlamaFormatException>(() => Llama.LoadAuto(bitt));
        StringAssert.Contains(cut.Message, "cut.bitt");
    }
}
