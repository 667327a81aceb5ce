using System.Diagnostics;

namespace BitTtt.Training.Tests;

[TestClass]
public sealed class TrainerTests
{
    const int Vocab = 29;

    // A learnable corpus: a fixed random "sentence" of 23 ids repeated with a little noise.
    internal static string Corpus(string dir, int length, string name = "tokens.bin", int seed = 1)
    {
        var rng = new Random(seed);
        var sentence = Enumerable.Range(0, 23).Select(_ => rng.Next(Vocab)).ToArray();
        return TokenFileTests.Write(Path.Combine(dir, name),
            Enumerable.Range(0, length).Select(i => rng.Next(20) == 0 ? rng.Next(Vocab) : sentence[i % sentence.Length]));
    }

    sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }

    [TestMethod]
    [DataRow(TttType.Reconstruct)]
    [DataRow(TttType.Delta)]
    public void LossFallsWellBelowTheUnigramBaseline(TttType type)
    {
        string dir = TokenFileTests.TempDir();
        using var train = TokenFile.Open(Corpus(dir, 4000));
        using var validation = TokenFile.Open(Corpus(dir, 600, "val.bin"));
        var options = TinyTrainer.Options(null, 150, type);
        options.EvalInterval = 50;
        var reports = new List<TrainingProgress>();
        var result = new BitLlamaTrainer(options, Vocab).Train(train, validation, new SyncProgress(reports.Add));
        double unigram = BitLlamaTrainer.UnigramCrossEntropy(train, validation, Vocab);
        Assert.AreEqual(150, reports.Count);
        Assert.IsTrue(result.Completed);
        Assert.IsNotNull(result.ValidationLoss);
        Assert.IsTrue(result.ValidationLoss < unigram - 1.0, $"validation loss {result.ValidationLoss} vs unigram {unigram}");
        Assert.AreEqual(3, reports.Count(r => r.ValidationLoss is not null));
        Assert.AreEqual(1e-2, reports[2].LearningRate, 1e-12);    // end of warmup = peak
        Assert.AreEqual(1e-3, reports[^1].LearningRate, 1e-12);   // last step = min_lr
        // The n-gram baselines are those of the same split, on every report and in the result.
        var expected = BitTtt.Evaluation.NGramBaselines.Measure(train.ReadAll(), validation.ReadAll(), Vocab);
        Assert.AreEqual(expected, result.Baselines);
        Assert.IsTrue(reports.All(r => r.Baselines == expected));
        Assert.AreEqual(unigram, expected.Unigram, 1e-12);
    }

    [TestMethod]
    public void MetricsFileHasOneRowPerStepAndBaselinesJsonTheSplitsBaselines()
    {
        string dir = TokenFileTests.TempDir(), output = Path.Combine(dir, "run");
        using var train = TokenFile.Open(Corpus(dir, 1500));
        using var validation = TokenFile.Open(Corpus(dir, 200, "val.bin"));
        var options = TinyTrainer.Options(output, 6);
        options.EvalInterval = 3;
        var result = new BitLlamaTrainer(options, Vocab).Train(train, validation);
        var rows = File.ReadAllLines(Path.Combine(output, "metrics.csv"));
        Assert.AreEqual("step,lr,train_loss,val_loss,tokens_per_s,elapsed_s", rows[0]);
        Assert.AreEqual(7, rows.Length);
        var fields = rows[3].Split(',');
        Assert.AreEqual("3", fields[0]);
        Assert.IsTrue(double.Parse(fields[3], System.Globalization.CultureInfo.InvariantCulture) > 0, rows[3]);
        Assert.AreEqual("", rows[2].Split(',')[3], "no evaluation at step 2");
        Assert.AreEqual(result.TrainLoss, double.Parse(rows[6].Split(',')[2], System.Globalization.CultureInfo.InvariantCulture), 1e-5);
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "baselines.json")));
        Assert.AreEqual(result.Baselines!.Trigram, json.RootElement.GetProperty("trigram").GetDouble(), 1e-12);
        Assert.AreEqual(1500, json.RootElement.GetProperty("train_tokens").GetInt64());
    }

    [TestMethod]
    [DataRow(TttType.Reconstruct)]
    [DataRow(TttType.Delta)]
    public void ResumeGivesBitwiseTheSameWeights(TttType type)
    {
        string dir = TokenFileTests.TempDir();
        using var train = TokenFile.Open(Corpus(dir, 3000));
        var straight = new BitLlamaTrainer(TinyTrainer.Options(Path.Combine(dir, "a"), type: type), Vocab).Train(train, null);
        Assert.AreEqual(type, straight.Config.TttType);

        var first = TinyTrainer.Options(Path.Combine(dir, "b"), type: type);
        first.StopAfterSteps = 10;
        var half = new BitLlamaTrainer(first, Vocab).Train(train, null);
        Assert.IsFalse(half.Completed);
        Assert.AreEqual(10, half.Step);
        var second = TinyTrainer.Options(Path.Combine(dir, "b"), type: type);
        second.Resume = true;
        var resumed = new BitLlamaTrainer(second, Vocab).Train(train, null);
        Assert.IsTrue(resumed.Completed);
        Assert.AreEqual(20, resumed.Step);

        Assert.AreEqual(straight.Weights.Count, resumed.Weights.Count);
        for (int i = 0; i < straight.Weights.Count; i++)
            CollectionAssert.AreEqual(straight.Weights[i].Data.ToArray(), resumed.Weights[i].Data.ToArray(), straight.Weights[i].Name);
        Assert.AreEqual(straight.TrainLoss, resumed.TrainLoss);
    }

    [TestMethod]
    public void ResumingAFinishedRunReportsTheCheckpointsLossNotNaN()
    {
        // A resumed run with no step left to run once reported "train loss NaN" (the loss of zero steps).
        string dir = TokenFileTests.TempDir();
        using var train = TokenFile.Open(Corpus(dir, 2000));
        var done = new BitLlamaTrainer(TinyTrainer.Options(dir, 5), Vocab).Train(train, null);
        Assert.IsTrue(double.IsFinite(done.TrainLoss));
        var options = TinyTrainer.Options(dir, 5);
        options.Resume = true;
        var again = new BitLlamaTrainer(options, Vocab).Train(train, null);
        Assert.AreEqual(5, again.Step);
        Assert.AreEqual(5, again.StartStep);
        Assert.IsTrue(again.Completed);
        Assert.AreEqual(done.TrainLoss, again.TrainLoss);
    }

    [TestMethod]
    public void CancellationStopsAfterTheCurrentStepWithACheckpoint()
    {
        string dir = TokenFileTests.TempDir();
        using var train = TokenFile.Open(Corpus(dir, 2000));
        using var cts = new CancellationTokenSource();
        var trainer = new BitLlamaTrainer(TinyTrainer.Options(dir, 50), Vocab);
        var result = trainer.Train(train, null, new SyncProgress(p => { if (p.Step == 3) cts.Cancel(); }), cts.Token);
        Assert.IsFalse(result.Completed);
        Assert.AreEqual(3, result.Step);
        Assert.AreEqual(trainer.CheckpointPath, result.CheckpointPath);
        Assert.IsTrue(File.Exists(result.CheckpointPath));
        var options = TinyTrainer.Options(dir, 50);
        options.Resume = true;
        var steps = new List<int>();
        var rest = new BitLlamaTrainer(options, Vocab).Train(train, null, new SyncProgress(p => steps.Add(p.Step)));
        Assert.AreEqual(4, steps[0]);
        Assert.AreEqual(50, rest.Step);
    }

    [TestMethod]
    public void MemoryStaysFlatOverHundredsOfSteps()
    {
        string dir = TokenFileTests.TempDir();
        using var train = TokenFile.Open(Corpus(dir, 2000));
        var options = TinyTrainer.Options(null, 500);
        options.LearningRate = 1e-3;
        long managed50 = 0, native50 = 0, managed500 = 0, native500 = 0;
        void Measure(TrainingProgress p)
        {
            if (p.Step != 50 && p.Step != 500) return;
            long managed = GC.GetTotalMemory(forceFullCollection: true);
            using var process = Process.GetCurrentProcess();
            long native = process.WorkingSet64;
            if (p.Step == 50) (managed50, native50) = (managed, native);
            else (managed500, native500) = (managed, native);
        }
        new BitLlamaTrainer(options, Vocab).Train(train, null, new SyncProgress(Measure));
        // A leak of one step's graph (dozens of tensors) would grow by tens of MB over 450 steps.
        Assert.IsTrue(managed500 - managed50 < 2_000_000, $"managed memory grew from {managed50} to {managed500}");
        Assert.IsTrue(native500 - native50 < 16_000_000, $"working set grew from {native50} to {native500}");
    }

    [TestMethod]
    public void BadInputIsRejectedWithAClearMessage()
    {
        string dir = TokenFileTests.TempDir();
        using var shortCorpus = TokenFile.Open(TokenFileTests.Write(Path.Combine(dir, "short.bin"), Enumerable.Range(0, 16)));
        var e = Assert.ThrowsExactly<ArgumentException>(() => new BitLlamaTrainer(TinyTrainer.Options(null), Vocab).Train(shortCorpus, null));
        StringAssert.Contains(e.Message, "fewer than one window of 17");

        using var wide = TokenFile.Open(TokenFileTests.Write(Path.Combine(dir, "wide.bin"), Enumerable.Range(0, 100)));
        e = Assert.ThrowsExactly<ArgumentException>(() => new BitLlamaTrainer(TinyTrainer.Options(null), Vocab).Train(wide, null));
        StringAssert.Contains(e.Message, "token id 99");

        using var train = TokenFile.Open(Corpus(dir, 500));
        var resume = TinyTrainer.Options(Path.Combine(dir, "none"));
        resume.Resume = true;
        Assert.ThrowsExactly<FileNotFoundException>(() => new BitLlamaTrainer(resume, Vocab).Train(train, null));

        var cuda = TinyTrainer.Options(null);
        cuda.Device = "cuda";
        var c = Assert.ThrowsExactly<InvalidOperationException>(() => new BitLlamaTrainer(cuda, Vocab).Train(train, null));
        StringAssert.Contains(c.Message, "-p:TorchBackend=cuda-linux");

        var bad = TinyTrainer.Options(null);
        bad.HiddenDim = 18;
        e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new BitLlamaTrainer(bad, Vocab));
        StringAssert.Contains(e.Message, "HiddenDim");

        string blocker = Path.Combine(dir, "file-not-dir");
        File.WriteAllText(blocker, "x");
        Assert.ThrowsExactly<IOException>(() => new BitLlamaTrainer(TinyTrainer.Options(Path.Combine(blocker, "out")), Vocab).Train(train, null));
    }

    [TestMethod]
    public void CheckpointFromAnotherConfigIsRejected()
    {
        string dir = TokenFileTests.TempDir();
        using var train = TokenFile.Open(Corpus(dir, 500));
        new BitLlamaTrainer(TinyTrainer.Options(dir, 2), Vocab).Train(train, null);
        var other = TinyTrainer.Options(dir, 4);
        other.HiddenDim = 32;
        other.Resume = true;
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => new BitLlamaTrainer(other, Vocab).Train(train, null));
        StringAssert.Contains(e.Message, "hidden_dim = 16 in the checkpoint, 32 in this run");
    }

    [TestMethod]
    public void DivergenceStopsAndKeepsTheLastGoodCheckpoint()
    {
        string dir = TokenFileTests.TempDir();
        using var train = TokenFile.Open(Corpus(dir, 500));
        var options = TinyTrainer.Options(dir, 50);
        // Decoupled weight decay multiplies the weights by (1 - lr·wd) = -1e10 per step: finite for three
        // steps, infinite at the fourth.
        options.LearningRate = 1e11;
        options.MinLearningRate = 1e11;
        options.WarmupSteps = 0;
        options.SaveInterval = 1;
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => new BitLlamaTrainer(options, Vocab).Train(train, null));
        StringAssert.Contains(e.Message, "last good checkpoint");
        var resume = TinyTrainer.Options(dir, 50);
        resume.Resume = true;
        resume.MaxSteps = 1;   // already reached: loads the checkpoint and returns its weights
        var result = new BitLlamaTrainer(resume, Vocab).Train(train, null);
        Assert.IsTrue(result.Weights.All(w => w.Data.ToArray().All(float.IsFinite)), "checkpoint holds non-finite weights");
    }

    [TestMethod]
    public void UnigramCrossEntropyIsTheSmoothedCorpusEntropy()
    {
        string dir = TokenFileTests.TempDir();
        using var train = TokenFile.Open(TokenFileTests.Write(Path.Combine(dir, "t.bin"), [0, 0, 1, 1]));
        using var validation = TokenFile.Open(TokenFileTests.Write(Path.Combine(dir, "v.bin"), [0, 2]));
        // counts + 1 = (3, 3, 1) over 4 + 3 = 7.
        double expected = -(Math.Log(3.0 / 7) + Math.Log(1.0 / 7)) / 2;
        Assert.AreEqual(expected, BitLlamaTrainer.UnigramCrossEntropy(train, validation, 3), 1e-12);
    }
}
