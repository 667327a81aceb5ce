using BitTtt.MLNet;
using BitTtt.Tokenization;
using BitTtt.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet.Tests;

[TestClass]
public sealed class TrainingTests
{
    [TestMethod]
    public void Cancellation_MidFit_LeavesACheckpointThatResumes()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath);
        string checkpoints = TinyCorpus.NewPath("checkpoints");
        using var cancel = new CancellationTokenSource();
        var options = TinyPipeline.Options(maxSteps: 12);
        options.CheckpointDirectory = checkpoints;
        options.SaveInterval = 100;
        options.CancellationToken = cancel.Token;
        int lastStep = 0;
        options.Progress = new SyncProgress(p => { lastStep = p.Step; if (p.Step == 5) cancel.Cancel(); });

        Assert.ThrowsExactly<OperationCanceledException>(() => TinyPipeline.Create(ml, options).Fit(data));
        Assert.IsTrue(lastStep is >= 5 and < 12, $"stopped at step {lastStep}");
        Assert.IsTrue(Directory.EnumerateFileSystemEntries(checkpoints).Any(), "cancellation writes a checkpoint");

        var resumed = TinyPipeline.Options(maxSteps: 12);
        resumed.CheckpointDirectory = checkpoints;
        resumed.SaveInterval = 100;
        resumed.Resume = true;
        int firstStep = -1;
        resumed.Progress = new SyncProgress(p => { if (firstStep < 0) firstStep = p.Step; });
        var model = TinyPipeline.Create(ml, resumed).Fit(data);
        Assert.IsTrue(firstStep > 5, $"resumed at step {firstStep}");
        var bitLlama = ((IEnumerable<ITransformer>)model).OfType<BitLlamaTransformer>().Single();
        Assert.AreEqual(12, bitLlama.Training!.Steps);
        Assert.IsFalse(string.IsNullOrEmpty(ml.Model.CreatePredictionEngine<TextRow, Completion>(model).Predict(new TextRow { Text = "The" }).Text));
    }

    [TestMethod]
    public void TimeBudget_PlansTheFit_AndAnUndertrainedFitSaysWhatToChange()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath);
        var options = TinyPipeline.Options();
        options.TimeBudget = TimeSpan.FromSeconds(4);
        var model = TinyPipeline.Create(ml, options).Fit(data);
        var training = ((IEnumerable<ITransformer>)model).OfType<BitLlamaTransformer>().Single().Training!;
        Assert.IsNotNull(training.Plan);
        Assert.AreEqual((TimeBudgetPlanner.Shapes[0].HiddenDim, TimeBudgetPlanner.Shapes[0].NumLayers), (training.Plan.HiddenDim, training.Plan.NumLayers),
            string.Join("\n", training.Plan.Trials));
        Assert.AreEqual(training.Plan.MaxSteps, training.Steps);
        Assert.AreEqual(16, options.MaxSteps, "the caller's options are not changed");

        // Three steps: undertrained, and the advice names the options as an ML.NET caller spells them.
        var shortRun = TinyPipeline.Options(maxSteps: 3);
        var advice = ((IEnumerable<ITransformer>)TinyPipeline.Create(ml, shortRun).Fit(data)).OfType<BitLlamaTransformer>().Single().Training!.Advice;
        Assert.IsNotNull(advice);
        StringAssert.StartsWith(advice, "undertrained: validation ");
        StringAssert.Contains(advice, "MaxSteps, now 3");
        StringAssert.Contains(advice, "TimeBudget sizes the model");
    }

    [TestMethod]
    public void ValidationSet_AsText_AndInt32TokensWithAGivenTokenizer()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath);
        var tokenizer = ml.Transforms.TokenizeForBitLlama(vocabSize: TinyCorpus.VocabSize).Fit(data).Tokenizer;

        // Token ids from elsewhere (Int32, no annotation): the tokenizer comes from the options.
        var rows = data.GetColumn<string>("Text").Select(t => new IntTokensRow { Ids = tokenizer.Encode(t), Prompt = t }).ToArray();
        var options = TinyPipeline.Options(maxSteps: 6);
        options.TokensColumnName = "Ids";
        options.PromptColumnName = "Prompt";
        options.Tokenizer = tokenizer;
        options.ValidationSet = ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.ValidationPath);
        options.PromptColumnName = "Prompt";
        var model = ml.Transforms.BitLlama(options).Fit(ml.Data.LoadFromEnumerable(rows));
        var training = model.Training!;
        Assert.IsTrue(training.ValidationTokens > 500, $"{training.ValidationTokens}");
        Assert.IsTrue(training.ValidationLoss is > 0);
        Assert.AreEqual("Prompt", model.PromptColumnName);
        var engine = ml.Model.CreatePredictionEngine<PromptRow, Completion>(model);
        Assert.IsNotNull(engine.Predict(new PromptRow { Prompt = "whale" }).Text);
    }

    [TestMethod]
    public void SameSeed_SameModel_SameCompletion_OtherSeed_OtherWeights()
    {
        string Fit(int seed, out float[] embed)
        {
            var ml = new MLContext(seed: 1);
            var options = TinyPipeline.Options(maxSteps: 6);
            options.Seed = seed;
            var model = TinyPipeline.Create(ml, options).Fit(ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath));
            embed = ((IEnumerable<ITransformer>)model).OfType<BitLlamaTransformer>().Single()
                .Weights!.Single(w => w.Name == "embed.weight").Data.ToArray();
            return ml.Model.CreatePredictionEngine<TextRow, Completion>(model).Predict(new TextRow { Text = "The whale" }).Text;
        }
        string a = Fit(3, out var embedA), b = Fit(3, out var embedB);
        Fit(4, out var embedC);
        Assert.AreEqual(a, b);
        CollectionAssert.AreEqual(embedA, embedB);
        CollectionAssert.AreNotEqual(embedA, embedC);
    }

    [TestMethod]
    public void ADivergedFit_Throws_NamingTheOptionsAsSet()
    {
        // The trainer words its messages with BitLlamaOptions' names; the CLI prints the same ones as --lr, --inner-lr.
        var ml = new MLContext(seed: 1);
        var options = TinyPipeline.Options(maxSteps: 30);
        options.LearningRate = 100;
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => TinyPipeline.Create(ml, options).Fit(ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath)));
        StringAssert.StartsWith(e.Message, "training diverged: the training loss at step ");
        StringAssert.EndsWith(e.Message, "No checkpoint was written. Try a lower LearningRate or InnerLr.");

        options = TinyPipeline.Options();
        options.MinLearningRate = 1;
        var invalid = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => options.Validate());
        Assert.AreEqual("MinLearningRate must be between 0 and LearningRate (0.003), got 1. (Parameter 'MinLearningRate')", invalid.Message);
        Assert.AreEqual("--min-lr must be between 0 and --lr (0.003), got 1.",
            OptionMessage.Format(invalid, name => name == "MinLearningRate" ? "--min-lr" : name == "LearningRate" ? "--lr" : name));
    }

    [TestMethod]
    public void TooLittleText_IsAnArgumentError()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 3).Select(_ => new TextRow { Text = "a whale" }));
        var tokenizer = BitLlamaTokenizer.Gpt2();
        var e = Assert.ThrowsExactly<ArgumentException>(() =>
            ml.Transforms.TokenizeForBitLlama(tokenizer.Inner).Append(ml.Transforms.BitLlama(TinyPipeline.Options())).Fit(data));
        StringAssert.Contains(e.Message, "ContextLen");
    }

    [TestMethod]
    public void Fit_ReadsTheTokenColumnInOneCursorPass()
    {
        var ml = new MLContext(seed: 1);
        var text = ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath);
        var tokens = new CountingView(ml.Transforms.TokenizeForBitLlama(vocabSize: TinyCorpus.VocabSize).Fit(text).Transform(text));
        ml.Transforms.BitLlama(TinyPipeline.Options(maxSteps: 2)).Fit(tokens);
        Assert.AreEqual(1, tokens.Cursors, "one streaming pass over the data");
        CollectionAssert.AreEqual(new[] { "Tokens" }, tokens.Columns.ToArray(), "only the token column is read");
    }

    /// <summary>Counts the cursors a consumer opens and the columns it asks for.</summary>
    sealed class CountingView(IDataView inner) : IDataView
    {
        public int Cursors;
        public readonly HashSet<string> Columns = [];
        public bool CanShuffle => inner.CanShuffle;
        public DataViewSchema Schema => inner.Schema;
        public long? GetRowCount() => inner.GetRowCount();

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            Record(columnsNeeded);
            return inner.GetRowCursor(columnsNeeded, rand);
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        {
            Record(columnsNeeded);
            return inner.GetRowCursorSet(columnsNeeded, n, rand);
        }

        void Record(IEnumerable<DataViewSchema.Column> columns)
        {
            Interlocked.Increment(ref Cursors);
            foreach (var c in columns) Columns.Add(c.Name);
        }
    }

    sealed class IntTokensRow { [VectorType] public int[] Ids { get; set; } = []; public string Prompt { get; set; } = ""; }
    sealed class PromptRow { public string Prompt { get; set; } = ""; }

    /// <summary>Progress&lt;T&gt; posts to a thread pool; tests need the call on the training thread.</summary>
    sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
