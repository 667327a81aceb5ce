using System.Diagnostics.Metrics;
using BitTtt.Inference.Diagnostics;
using BitTtt.Inference.Engine;
using BitTtt.Tests.Shared;

namespace BitTtt.Inference.Tests;

/// <summary>
/// Sessions decoded together: a forward step over many sequences gives each one bitwise the logits it gets alone
/// (both TTT types, prompt chunks and decode tokens mixed, split across threads or not), the scheduler runs the
/// sessions of one model in shared steps, a long prompt is fed in chunks between the others' decode steps, and a
/// batched step allocates nothing.
/// </summary>
[TestClass]
public sealed class BatchingTests
{
    public TestContext TestContext { get; set; } = null!;

    static BitLlamaConfig Model(TttType type) => type == TttType.Delta
        ? TinyModels.DeltaConfig(vocab: 97, dim: 32, layers: 2, heads: 2, conv: 4)
        : TinyModels.Config(vocab: 97, dim: 32, layers: 2, chunk: 3);

    /// <summary>
    /// 64 sequences with prompts of 1 to 150 tokens, stepped together: each step every sequence feeds its next prompt
    /// chunk (of a size that varies) or one decode token, on the worker team. The same sequences fed alone, one call per
    /// chunk on the calling thread, give the same logits at every step, bit for bit, and the same TTT state.
    /// </summary>
    [TestMethod]
    [DataRow(TttType.Reconstruct)]
    [DataRow(TttType.Delta)]
    public void ASequencesLogitsAreBitwiseTheSameAloneOrBeside63Others(TttType type)
    {
        var c = Model(type);
        var weights = TinyModels.Load(c, TinyModels.RandomWeights(c, 5), int8Head: true);
        var rng = new Random(7);
        const int sequences = 64, steps = 12;
        var prompts = Enumerable.Range(0, sequences).Select(i => TinyModels.RandomTokens(rng.Next(1, 150), c.VocabSize, seed: i)).ToArray();
        var fed = new int[sequences];
        var together = Enumerable.Range(0, sequences).Select(_ => new SequenceState(weights)).ToArray();
        var alone = Enumerable.Range(0, sequences).Select(_ => new SequenceState(weights)).ToArray();
        var logits = Enumerable.Range(0, sequences).Select(_ => new float[c.VocabSize]).ToArray();
        var expected = new float[c.VocabSize];
        var batch = new StepBatch(weights, 40 * sequences, sequences);
        var team = new WorkerTeam(Math.Max(1, Environment.ProcessorCount - 1));
        Assert.IsTrue(team.TryEnter());
        for (int step = 0; step < steps; step++)
        {
            batch.Clear();
            var planned = new int[sequences][];
            for (int s = 0; s < sequences; s++)
            {
                // Prompt chunks of 1 to 40 tokens, then greedy decode tokens from the sequence's own logits.
                planned[s] = fed[s] < prompts[s].Length
                    ? prompts[s][fed[s]..Math.Min(prompts[s].Length, fed[s] + rng.Next(1, 41))]
                    : [System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits[s])];
                fed[s] += fed[s] < prompts[s].Length ? planned[s].Length : 0;
                batch.Add(together[s], planned[s], logits[s]);
            }
            Forward.Step(batch, team);
            for (int s = 0; s < sequences; s++)
            {
                Forward.Run(alone[s], planned[s], expected);   // alone: its own step, no team
                CollectionAssert.AreEqual(expected, logits[s], $"{TttCases.Name(c)}: sequence {s}, step {step}");
            }
        }
        team.Exit();
        team.Dispose();
        for (int s = 0; s < sequences; s++)
        {
            Assert.AreEqual(alone[s].Position, together[s].Position);
            for (int l = 0; l < c.NumLayers; l++)
            {
                CollectionAssert.AreEqual(alone[s].W[l], together[s].W[l]);
                CollectionAssert.AreEqual(alone[s].G[l], together[s].G[l]);
                CollectionAssert.AreEqual(alone[s].S[l], together[s].S[l]);
                CollectionAssert.AreEqual(alone[s].ConvTail[l], together[s].ConvTail[l]);
            }
        }
    }

    /// <summary>Through the public API: 64 sessions fed and sampled concurrently get the same logits and text as alone and as with batching off.</summary>
    [TestMethod]
    [DataRow(TttType.Reconstruct)]
    [DataRow(TttType.Delta)]
    public void ConcurrentSessionsGetTheirLogitsAndTextAloneAndWithBatchingOff(TttType type)
    {
        var c = type == TttType.Delta ? TinyModels.DeltaConfig(vocab: TinyLlama.Tokenizer().VocabSize, heads: 2) : TinyLlama.Config();
        var tensors = TinyLlama.Tensors(c, 31);
        using var batched = Llama.FromWeights(c, TinyLlama.Tokenizer(), tensors);
        using var single = Llama.FromWeights(c, TinyLlama.Tokenizer(), tensors, new InferenceOptions { Batching = false });
        Assert.IsTrue(batched.Batching);
        Assert.IsFalse(single.Batching);
        var options = new SamplingOptions { MaxTokens = 12, Temperature = 0.9f, TopK = 20 };
        string Prompt(int i) => i % 3 == 0 ? "the whale" : i % 3 == 1 ? "the sea was calm and the whale" : "héllo";
        int[] Tokens(int i) => TinyModels.RandomTokens(1 + i % 9, c.VocabSize, seed: i);
        var aloneLogits = new float[64][];
        var aloneText = new string[64];
        for (int i = 0; i < 64; i++)
        {
            using var s = single.CreateSession();
            aloneLogits[i] = s.Logits(Tokens(i));
            aloneText[i] = s.Complete(Prompt(i), options with { Seed = i });   // continues the memory the logits call fed
        }
        var logits = new float[64][];
        var text = new string[64];
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 64 }, i =>
        {
            using var s = batched.CreateSession();
            logits[i] = s.Logits(Tokens(i));
            text[i] = s.Complete(Prompt(i), options with { Seed = i });
        });
        for (int i = 0; i < 64; i++) CollectionAssert.AreEqual(aloneLogits[i], logits[i], $"{type}: session {i}'s logits");
        CollectionAssert.AreEqual(aloneText, text, $"{type}: texts");
    }

    /// <summary>
    /// While a session decodes (a whole-text completion, so it is in every step until it ends), a ~4,800-token prompt on
    /// another session is fed a chunk per step beside it: steps hold a decode token and a prompt chunk, and the decoding
    /// session keeps producing tokens while the prompt is fed instead of waiting for all of it.
    /// </summary>
    [TestMethod]
    public async Task ALongPromptIsFedInChunksBetweenAnotherSessionsDecodeSteps()
    {
        using var llama = TinyLlama.Create(seed: 33);
        int mixedSteps = 0, lastSequences = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == BitLlamaTelemetry.Name && instrument.Name is "bitttt.step.sequences" or "bitttt.step.tokens") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<int>((instrument, value, _, _) =>
        {
            if (instrument.Name == "bitttt.step.sequences") lastSequences = value;
            else if (lastSequences == 2 && value > 2) Interlocked.Increment(ref mixedSteps);   // a decode token and a chunk of > 1
        });
        listener.Start();
        using var decoder = llama.CreateSession();
        using var learner = llama.CreateSession();
        string text = string.Concat(Enumerable.Repeat("the whale swam in the sea. ", 600));
        int promptTokens = llama.Tokenizer.Encode(text).Length;
        Assert.IsGreaterThan(40 * SequenceState.MaxBatch, promptTokens);
        using var stop = new CancellationTokenSource();
        var decoding = Task.Run(() => decoder.Generate("the sea", SamplingOptions.Greedy(1_000_000), stop.Token));
        while (decoder.Position < 3) await Task.Delay(1);   // decoding
        long before = decoder.Position;
        await Task.Run(() => learner.Learn(text));
        long during = decoder.Position - before;
        stop.Cancel();
        await Assert.ThrowsAsync<OperationCanceledException>(() => decoding);
        TestContext.WriteLine($"{during} tokens decoded while the {promptTokens}-token prompt was fed; {mixedSteps} steps held a decode token beside a prompt chunk");
        Assert.IsGreaterThanOrEqualTo(promptTokens / SequenceState.MaxBatch, mixedSteps, "every chunk of the prompt should share a step with the decoding session");
        Assert.IsGreaterThanOrEqualTo(promptTokens / SequenceState.MaxBatch, during, "the decoding session waited for the prompt");
    }

    /// <summary>A batched decode step (8 sequences, one token each, on the worker team) allocates nothing, for both TTT types.</summary>
    [TestMethod]
    [DataRow(TttType.Reconstruct, 61, 64)]
    [DataRow(TttType.Reconstruct, 4096, 256)]
    [DataRow(TttType.Delta, 61, 64)]
    [DataRow(TttType.Delta, 4096, 256)]
    public void ABatchedDecodeStepAllocatesNothing(TttType type, int vocab, int dim)
    {
        var c = type == TttType.Delta
            ? TinyModels.DeltaConfig(vocab: vocab, dim: dim, layers: 1, heads: 4, conv: 4)
            : TinyModels.Config(vocab: vocab, dim: dim, layers: 1, chunk: 4);
        var weights = TinyModels.Load(c, TinyModels.RandomWeights(c, 1), int8Head: true);
        var states = Enumerable.Range(0, 8).Select(_ => new SequenceState(weights)).ToArray();
        var logits = Enumerable.Range(0, 8).Select(_ => new float[c.VocabSize]).ToArray();
        var batch = new StepBatch(weights, 64, 8);
        var team = weights.Team;
        int[] token = [7];
        void Step()
        {
            batch.Clear();
            for (int s = 0; s < states.Length; s++) batch.Add(states[s], token, logits[s]);
            Assert.IsTrue(team.TryEnter());
            try { Forward.Step(batch, team); }
            finally { team.Exit(); }
        }
        for (int i = 0; i < 10; i++) Step();   // warm up (JIT, the team's threads)
        long allocated = long.MaxValue;
        for (int round = 0; round < 5 && allocated != 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 50; i++) Step();
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }
        Assert.AreEqual(0L, allocated, $"{TttCases.Name(c)}: bytes allocated by 50 batched decode steps (fewest of five rounds)");
    }
}
