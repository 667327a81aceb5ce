using BitTtt.Formats;
using BitTtt.Tokenization;
using static TorchSharp.torch;

namespace BitTtt.Training.Tests;

// Shape key (docs/model.md): B = batch, T = time, V = vocab.

[TestClass]
public sealed class ChatTrainingTests
{
    const int Vocab = 29;
    const int User = 1, Assistant = 2, End = 3;   // marker ids of the synthetic conversations

    string _dir = "";

    [TestInitialize]
    public void Create() => _dir = TokenFileTests.TempDir();

    [TestCleanup]
    public void Remove() => Directory.Delete(_dir, recursive: true);

    // Conversations as ids: a user turn of 3-6 tokens from a fixed cycle (learnable when trained on), then an assistant
    // reply that repeats the question's last token. The reply and its end of turn are the targets.
    static string Conversations(string path, int count, int seed)
    {
        var rng = new Random(seed);
        using var writer = new TokenFileWriter(path, withFlags: true);
        for (int c = 0; c < count; c++)
        {
            int n = rng.Next(3, 7), first = rng.Next(10, Vocab);
            var question = Enumerable.Range(0, n).Select(i => 10 + (first - 10 + 3 * i) % (Vocab - 10)).ToArray();
            int[] ids = [User, .. question, End, Assistant, question[^1], End];
            bool[] targets = [.. ids.Select((_, i) => i >= ids.Length - 2)];
            writer.AppendExample(ids, targets);
        }
        writer.Commit();
        return path;
    }

    [TestMethod]
    public void FlaggedTokenFilesRoundTrip()
    {
        string path = Path.Combine(_dir, "chats.bin");
        using (var writer = new TokenFileWriter(path, withFlags: true))
        {
            writer.AppendExample([5, 6, 7], [false, true, true]);
            writer.AppendExample([8], [false]);
            writer.AppendExample([9, 10], [false, false]);
            Assert.ThrowsExactly<InvalidOperationException>(() => writer.Append([1]));
            writer.Commit();
        }
        using var file = TokenFile.Open(path);
        Assert.IsTrue(file.HasFlags);
        Assert.AreEqual(6L, file.Count);
        CollectionAssert.AreEqual(new[] { 5, 6, 7, 8, 9, 10 }, file.ReadAll());
        var flags = new byte[6];
        file.CopyFlags(0, flags);
        CollectionAssert.AreEqual(new byte[] { 2, 1, 1, 2, 2, 0 }, flags);
        CollectionAssert.AreEqual(new long[] { 0, 3, 4 }, file.ExampleStarts.ToArray());
        Assert.AreEqual(16 + 6 * 5, new FileInfo(path).Length);
        Assert.AreEqual(1, Directory.GetFiles(_dir).Length, "the flags' temporary file is gone");
        using var text = TokenFile.Open(TokenFileTests.Write(Path.Combine(_dir, "text.bin"), [1, 2, 3]));
        Assert.IsFalse(text.HasFlags);
        Assert.AreEqual(0, text.ExampleStarts.Count);
        Assert.ThrowsExactly<InvalidOperationException>(() => text.CopyFlags(0, new byte[1]));
    }

    [TestMethod]
    public void ExamplesAreRowsFromTheirStartCutToTheWindowAndPadded()
    {
        string path = Path.Combine(_dir, "chats.bin");
        using (var writer = new TokenFileWriter(path, withFlags: true))
        {
            writer.AppendExample([1, 4, 3, 2, 5, 3], [false, false, false, false, true, true]);       // fits
            writer.AppendExample([1, 4, 4, 4, 4, 3, 2, 6, 3], [.. Enumerable.Range(0, 9).Select(i => i >= 7)]);   // cut, counted token inside
            writer.AppendExample([1, 4, 4, 4, 4, 4, 4, 3, 2, 7, 3], [.. Enumerable.Range(0, 11).Select(i => i >= 9)]);   // nothing counted inside
            writer.Commit();
        }
        using var file = TokenFile.Open(path);
        var windows = new ExampleWindows(file, window: 8, trainOnAll: false);
        Assert.AreEqual(new ExampleStats(3, 2, 2, 1), windows.Stats);
        var ids = new long[2 * 8];
        var mask = new float[2 * 7];
        windows.Fill(0, 0, ids, mask);
        windows.Fill(1, 1, ids, mask);
        CollectionAssert.AreEqual(new long[] { 1, 4, 3, 2, 5, 3, 0, 0, /* cut: */ 1, 4, 4, 4, 4, 3, 2, 6 }, ids);
        // Prediction t is of token t + 1: example 0 counts tokens 4 and 5, example 1 only token 7 (its end lies past the cut).
        CollectionAssert.AreEqual(new float[] { 0, 0, 0, 1, 1, 0, 0, /* */ 0, 0, 0, 0, 0, 0, 1 }, mask);
        var all = new ExampleWindows(file, window: 8, trainOnAll: true);
        Assert.AreEqual(3, all.Count);
        all.Fill(0, 0, ids, mask);
        CollectionAssert.AreEqual(new float[] { 1, 1, 1, 1, 1, 0, 0 }, mask[..7], "every real token but the first, no padding");
    }

    [TestMethod]
    public void MaskedLossIsTheMeanOverCountedPredictions()
    {
        // The trainer's loss against a slow transcription: −ln softmax per prediction, summed where counted, over the count.
        var rng = new Random(3);
        const int B = 3, T = 5, V = 7;
        var logits = Enumerable.Range(0, B * T * V).Select(_ => (float)(rng.NextDouble() * 6 - 3)).ToArray();
        var ids = Enumerable.Range(0, B * (T + 1)).Select(_ => (long)rng.Next(V)).ToArray();
        var mask = Enumerable.Range(0, B * T).Select(_ => rng.Next(3) == 0 ? 1f : 0f).ToArray();
        mask[4] = 1;
        double sum = 0, count = 0;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
            {
                if (mask[b * T + t] == 0) continue;
                var row = logits.AsSpan((b * T + t) * V, V).ToArray();
                double max = row.Max(), z = row.Sum(x => Math.Exp(x - max));
                sum += Math.Log(z) + max - row[ids[b * (T + 1) + t + 1]];
                count++;
            }
        using var logitsTensor = tensor(logits, [B, T, V]);
        using var tokens = tensor(ids, [B, T + 1]);
        using var masked = BitLlamaTrainer.Loss(logitsTensor, tokens, mask, CPU);
        Assert.AreEqual(sum / count, masked.item<float>(), 1e-5);
        using var unmasked = BitLlamaTrainer.Loss(logitsTensor, tokens, null, CPU);
        using var allCounted = BitLlamaTrainer.Loss(logitsTensor, tokens, Enumerable.Repeat(1f, B * T).ToArray(), CPU);
        Assert.AreEqual(unmasked.item<float>(), allCounted.item<float>(), 1e-6);
    }

    [TestMethod]
    public void OnlyTheCountedTokensAreLearned()
    {
        using var train = TokenFile.Open(Conversations(Path.Combine(_dir, "train.bin"), 400, 1));
        using var validation = TokenFile.Open(Conversations(Path.Combine(_dir, "val.bin"), 40, 2));
        var options = TinyTrainer.Options(null, 120);
        options.EvalBatches = 10;   // 10 batches of 4: every validation example
        var replies = new BitLlamaTrainer(options, Vocab).Train(train, validation);
        options.TrainOnAllTokens = true;
        var everything = new BitLlamaTrainer(options, Vocab).Train(train, validation);
        Assert.IsNotNull(replies.Examples);
        Assert.AreEqual(new ExampleStats(400, 400, 0, 0), replies.Examples);
        Assert.IsNull(replies.Baselines, "n-gram baselines score every token; a masked loss does not");
        // The replies repeat the question: learnt either way. The question cycle is learnt only when every token counts.
        double QuestionLoss(TrainingResult r) => LossOn(r, validation, (ids, t) => t >= 2 && ids[t] != End && ids[t - 1] != End && t < Array.IndexOf(ids, End));
        double ReplyLoss(TrainingResult r) => LossOn(r, validation, (ids, t) => t > Array.IndexOf(ids, Assistant));
        // Chance for a reply (the question's last token of 19, then the end of turn) is ln(19) / 2 = 1.47 nats.
        Assert.IsTrue(ReplyLoss(replies) < 1.2, $"reply loss {ReplyLoss(replies)}");
        Assert.IsTrue(QuestionLoss(everything) < 1.0, $"question loss when all tokens count {QuestionLoss(everything)}");
        Assert.IsTrue(QuestionLoss(replies) > 3.0, $"question loss when only replies count {QuestionLoss(replies)}");
        Assert.AreEqual(replies.ValidationLoss!.Value, LossOn(replies, validation, (ids, t) => t > Array.IndexOf(ids, Assistant)), 1e-4,
            "the validation loss is the mean over the replies and their end of turn");
    }

    // Mean −ln p over the validation examples' tokens t that `counted` picks, each example run alone from an empty state.
    static double LossOn(TrainingResult result, TokenFile examples, Func<int[], int, bool> counted)
    {
        using var model = ModelWeights.FromWeights(result.Config, result.Weights);
        using var _ = no_grad();
        double sum = 0, n = 0;
        var starts = examples.ExampleStarts;
        for (int e = 0; e < starts.Count; e++)
        {
            long end = e + 1 < starts.Count ? starts[e + 1] : examples.Count;
            var ids = new int[end - starts[e]];
            examples.CopyTo(starts[e], ids);
            using var input = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]);
            using var logp = model.forward(input).log_softmax(-1);
            for (int t = 1; t < ids.Length; t++)
                if (counted(ids, t)) { sum -= logp[0, t - 1, ids[t]].item<float>(); n++; }
        }
        return sum / n;
    }

    [TestMethod]
    public void ResumeOnConversationsGivesBitwiseTheSameWeights()
    {
        using var train = TokenFile.Open(Conversations(Path.Combine(_dir, "train.bin"), 100, 1));
        var straight = new BitLlamaTrainer(TinyTrainer.Options(Path.Combine(_dir, "a")), Vocab).Train(train, null);
        var first = TinyTrainer.Options(Path.Combine(_dir, "b"));
        first.StopAfterSteps = 9;
        new BitLlamaTrainer(first, Vocab).Train(train, null);
        var second = TinyTrainer.Options(Path.Combine(_dir, "b"));
        second.Resume = true;
        var resumed = new BitLlamaTrainer(second, Vocab).Train(train, null);
        for (int i = 0; i < straight.Weights.Count; i++)
            CollectionAssert.AreEqual(straight.Weights[i].Data.ToArray(), resumed.Weights[i].Data.ToArray(), straight.Weights[i].Name);
        Assert.AreEqual(straight.TrainLoss, resumed.TrainLoss);
    }

    [TestMethod]
    public void ACorpusWithNothingToLearnInTheWindowIsRejected()
    {
        string path = Path.Combine(_dir, "long.bin");
        using (var writer = new TokenFileWriter(path, withFlags: true))
        {
            writer.AppendExample([.. Enumerable.Repeat(4, 40), 2, 5, 3], [.. Enumerable.Range(0, 43).Select(i => i >= 41)]);
            writer.Commit();
        }
        using var train = TokenFile.Open(path);
        var e = Assert.ThrowsExactly<ArgumentException>(() => new BitLlamaTrainer(TinyTrainer.Options(null), Vocab).Train(train, null));
        StringAssert.Contains(e.Message, "none of the 1 training examples has a trained token (an assistant reply) within its first 17 tokens (context_len + 1); use a larger ContextLen");
        using var text = TokenFile.Open(TrainerTests.Corpus(_dir, 500));
        e = Assert.ThrowsExactly<ArgumentException>(() => new BitLlamaTrainer(TinyTrainer.Options(null), Vocab).Train(text, train));
        StringAssert.Contains(e.Message, "one holds examples (conversations) and the other a text");
    }

    // A small model directory with a real tokenizer that has no chat tokens (as GPT-2 or an older tokenizer.json).
    (string Path, BitLlamaTokenizer Tokenizer) BaseModel()
    {
        var tokenizer = BitLlamaTokenizer.FromJson(BpeTrainer.TrainFromTexts(["Your plan is Gold. Your plan is Silver. Which plan do I have?"],
            new BpeTrainerOptions { VocabSize = 280, MinFrequency = 1, ChatTokens = false }));
        string corpus = TokenFileTests.Write(Path.Combine(_dir, "base.bin"),
            Enumerable.Range(0, 600).SelectMany(i => tokenizer.Encode(i % 2 == 0 ? " Your plan is Gold." : " Which plan do I have?")));
        using var tokens = TokenFile.Open(corpus);
        var options = TinyTrainer.Options(Path.Combine(_dir, "base"), 10);
        var result = new BitLlamaTrainer(options, tokenizer.VocabSize).Train(tokens, null);
        string model = Path.Combine(_dir, "base.bitt");
        ModelPackage.WriteBitt(model, result.Config, tokenizer.ToJson(), result.Weights);
        File.WriteAllText(Path.Combine(_dir, "base", ModelPackage.TokenizerFileName), tokenizer.ToJson());
        return (model, tokenizer);
    }

    string ChatFile(BitLlamaTokenizer tokenizer, out ChatFormat format)
    {
        string jsonl = Path.Combine(_dir, "chats.jsonl");
        File.WriteAllLines(jsonl, Enumerable.Range(0, 60).Select(i =>
            $$"""{"messages": [{"role": "system", "content": "Plan: {{(i % 2 == 0 ? "Gold" : "Silver")}}."}, {"role": "user", "content": "Which plan do I have?"}, {"role": "assistant", "content": "Your plan is {{(i % 2 == 0 ? "Gold" : "Silver")}}."}]}"""));
        format = ChatFormat.Default(tokenizer.WithSpecialTokens(ChatFormat.DefaultTokens));
        return jsonl;
    }

    [TestMethod]
    public void FineTuningStartsFromTheModelAndGrowsItForTheChatTokens()
    {
        var (basePath, tokenizer) = BaseModel();
        var start = PretrainedModel.Load(basePath);
        string jsonl = ChatFile(start.Tokenizer, out var format);
        var counts = ChatCorpus.Encode([jsonl], format, Path.Combine(_dir, "chat.bin"), Path.Combine(_dir, "chat-val.bin"));
        Assert.AreEqual(new ChatCorpusCounts(57, 3, counts.TrainTokens, counts.ValidationTokens), counts);
        int vocab = format.Tokenizer.VocabSize;
        Assert.AreEqual(tokenizer.VocabSize + 4, vocab);

        // The grown weights (docs/model.md §6.5): old rows kept, new LM-head rows the mean, new embedding rows mean ± std·z.
        var config = start.ConfigFor(vocab, contextLen: 32);
        Assert.AreEqual(vocab, config.VocabSize);
        Assert.AreEqual(32, config.ContextLen);
        var grown = start.Grow(config, seed: 7);
        CollectionAssert.AreEqual(grown.Select(w => w.Name).ToList(), start.Weights.Select(w => w.Name).ToList());
        var embed = grown.Single(w => w.Name == BitLlamaWeights.Embed);
        var head = grown.Single(w => w.Name == BitLlamaWeights.LmHead);
        CollectionAssert.AreEqual(new long[] { vocab, 16 }, embed.Shape);
        var oldEmbed = start.Weights.Single(w => w.Name == BitLlamaWeights.Embed).Data.ToArray();
        var oldHead = start.Weights.Single(w => w.Name == BitLlamaWeights.LmHead).Data.ToArray();
        CollectionAssert.AreEqual(oldEmbed, embed.Data.ToArray()[..oldEmbed.Length]);
        int v = tokenizer.VocabSize;
        for (int c = 0; c < 16; c++)
        {
            double mean = Enumerable.Range(0, v).Average(r => (double)oldHead[r * 16 + c]);
            for (int r = v; r < vocab; r++) Assert.AreEqual(mean, head.Data.Span[r * 16 + c], 1e-6);
        }
        var newRows = embed.Data.ToArray()[oldEmbed.Length..];
        Assert.AreEqual(4 * 16, newRows.Distinct().Count(), "each new embedding row is its own draw");
        CollectionAssert.AreEqual(newRows, start.Grow(config, seed: 7).Single(w => w.Name == BitLlamaWeights.Embed).Data.ToArray()[oldEmbed.Length..]);
        CollectionAssert.AreNotEqual(newRows, start.Grow(config, seed: 8).Single(w => w.Name == BitLlamaWeights.Embed).Data.ToArray()[oldEmbed.Length..]);

        // A run from the model: at a learning rate of ~0 one step leaves exactly the grown weights' function.
        using var train = TokenFile.Open(Path.Combine(_dir, "chat.bin"));
        using var validation = TokenFile.Open(Path.Combine(_dir, "chat-val.bin"));
        var still = TinyTrainer.Options(null, 1);
        (still.InitialModel, still.ContextLen, still.LearningRate, still.MinLearningRate, still.WeightDecay) = (basePath, 32, 1e-30, 0, 0);
        var stillResult = new BitLlamaTrainer(still, vocab).Train(train, validation);
        Assert.AreEqual(config with { Extra = stillResult.Config.Extra }, stillResult.Config);
        for (int i = 0; i < grown.Count; i++)
        {
            var (a, b) = (grown[i].Data.ToArray(), stillResult.Weights[i].Data.ToArray());
            Assert.IsTrue(a.Zip(b).All(p => Math.Abs(p.First - p.Second) <= 1e-6f), grown[i].Name);
        }
        Assert.AreEqual(stillResult.InitialValidationLoss!.Value, stillResult.ValidationLoss!.Value, 1e-6);

        // A real fine-tuning run learns the replies: the validation loss falls from where the model started.
        var tune = TinyTrainer.Options(Path.Combine(_dir, "tuned"), 60);
        (tune.InitialModel, tune.ContextLen) = (basePath, 32);
        var tuned = new BitLlamaTrainer(tune, vocab).Train(train, validation);
        Assert.IsTrue(tuned.ValidationLoss < tuned.InitialValidationLoss / 2, $"{tuned.InitialValidationLoss} -> {tuned.ValidationLoss}");

        // Resume stays exact on a fine-tuning run.
        var half = TinyTrainer.Options(Path.Combine(_dir, "tuned-half"), 60);
        (half.InitialModel, half.ContextLen, half.StopAfterSteps) = (basePath, 32, 25);
        new BitLlamaTrainer(half, vocab).Train(train, validation);
        half.StopAfterSteps = null;
        half.Resume = true;
        var resumed = new BitLlamaTrainer(half, vocab).Train(train, validation);
        Assert.IsNull(resumed.InitialValidationLoss, "a resumed run does not start from the model again");
        for (int i = 0; i < tuned.Weights.Count; i++)
            CollectionAssert.AreEqual(tuned.Weights[i].Data.ToArray(), resumed.Weights[i].Data.ToArray(), tuned.Weights[i].Name);
    }

    [TestMethod]
    public void ACheckpointStartsARunWithTheTokenizerBesideIt()
    {
        var (_, tokenizer) = BaseModel();
        string checkpoint = Path.Combine(_dir, "base", TrainingCheckpoint.FileName);
        var start = PretrainedModel.Load(checkpoint);
        Assert.AreEqual(tokenizer.VocabSize, start.Tokenizer.VocabSize);
        Assert.AreEqual(tokenizer.VocabSize, start.Config.VocabSize);
        File.Delete(Path.Combine(_dir, "base", ModelPackage.TokenizerFileName));
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => PretrainedModel.Load(checkpoint));
        StringAssert.Contains(e.Message, "a checkpoint's tokenizer is the tokenizer.json beside it");
        Assert.ThrowsExactly<ArgumentException>(() => start.ConfigFor(tokenizer.VocabSize - 1, 32));
    }
}
