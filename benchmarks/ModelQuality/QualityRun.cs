using System.Diagnostics;
using BitTtt;
using BitTtt.Tokenization;
using BitTtt.Training;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>One trained model's measurements (Scores.cs says what each is).</summary>
sealed record ResultRow(string Corpus, string Model, double ValidationLoss, double? CopyScore, double? RecallScore, double? QueryValueLoss, TimeSpan TrainTime, string Note)
{
    /// <summary>The validation loss in bits per UTF-8 byte of the validation text: comparable across vocabularies.</summary>
    public double BitsPerByte { get; init; }
}

/// <summary>A tokenized corpus: tokenizer, train/validation token files and, for MQAR, its generator.</summary>
sealed record Corpus(string Name, string TextPath, BitLlamaTokenizer Tokenizer, TokenFile Train, TokenFile Validation, RecallText? Recall) : IDisposable
{
    /// <summary>Tokens per UTF-8 byte of the validation text (to turn nats per token into bits per byte).</summary>
    public double TokensPerByte { get; } = (double)Validation.Count / System.Text.Encoding.UTF8.GetByteCount(Tokenizer.Decode(Validation.ReadAll()));

    public double BitsPerByte(double natsPerToken) => natsPerToken * TokensPerByte / Math.Log(2);

    public void Dispose()
    {
        Train.Dispose();
        Validation.Dispose();
    }
}

static class QualityRun
{
    public static int Run(Arguments a)
    {
        Directory.CreateDirectory(a.Work);
        var delta = Options(a, "delta");
        Console.WriteLine($"ModelQuality: D={a.Dim}, {a.Layers} layers, context {a.ContextLen}, batch {a.BatchSize}, {a.Steps} steps, lr {a.Lr}, warm-up {delta.WarmupSteps}, " +
            $"delta: {delta.TttHeads} heads, conv {delta.TttConv}, inner lr {delta.EffectiveInnerLr}; " +
            $"BPE {a.VocabSize}, seed {a.Seed}, threads {(a.Threads > 0 ? a.Threads : Environment.ProcessorCount)} of {Environment.ProcessorCount} cores");
        var rows = new List<ResultRow>();
        var clock = Stopwatch.StartNew();
        foreach (string name in a.Corpora)
        {
            using var corpus = Prepare(name, a);
            foreach (var (baseline, loss) in Baselines(corpus))
                rows.Add(new ResultRow(name, baseline, loss, null, null, null, TimeSpan.Zero, "validation tokens") { BitsPerByte = corpus.BitsPerByte(loss) });
            foreach (string type in a.Types)
            {
                var row = TrainAndScore(corpus, type, a);
                rows.Add(row with { BitsPerByte = corpus.BitsPerByte(row.ValidationLoss) });
            }
        }
        Console.WriteLine();
        Console.WriteLine("| corpus | model | validation loss (nats) | bits/byte | copy score | recall score | query-value loss (nats) | train time | note |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            Console.WriteLine($"| {r.Corpus} | {r.Model} | {r.ValidationLoss:F3} | {r.BitsPerByte:F3} | {Cell(r.CopyScore)} | {Cell(r.RecallScore)} | {Cell(r.QueryValueLoss)} | " +
                $"{(r.TrainTime > TimeSpan.Zero ? $"{r.TrainTime.TotalSeconds:F0} s" : "")} | {r.Note} |");
        Console.WriteLine($"\nwall time {clock.Elapsed.TotalMinutes:F1} min (machine shared with other work: times are indicative only)");
        return 0;
    }

    /// <summary><c>score MODEL</c>: the validation loss and copy score of a saved model on --data's last 5%, beside the n-gram baselines.</summary>
    public static int Score(string modelPath, Arguments a)
    {
        using var package = BitTtt.Formats.ModelPackage.Open(modelPath);
        var tokenizer = BitLlamaTokenizer.FromJson(package.TokenizerJson ?? throw new ArgumentException($"{modelPath}: no tokenizer in the model"), modelPath);
        string dir = Path.Combine(a.Work, "score");
        Directory.CreateDirectory(dir);
        string trainPath = Path.Combine(dir, "tokens.bin"), validationPath = Path.Combine(dir, "val.bin");
        TokenCorpus.Encode(a.Data, tokenizer, trainPath, validationPath);
        using var train = TokenFile.Open(trainPath);
        using var validation = TokenFile.Open(validationPath);
        using var model = ModelWeights.LoadModel(modelPath);
        model.eval();
        int context = package.Config.ContextLen;
        var b = BitLlamaTrainer.MeasureBaselines(train, validation, tokenizer.VocabSize);
        Console.WriteLine($"{modelPath} ({package.Config.TttType}, D={package.Config.HiddenDim}, {package.Config.NumLayers} layers) on the last 5% of {a.Data}, windows of {context}:");
        Console.WriteLine($"validation loss {Scores.ValidationLoss(model.forward, validation, context):F3}, copy score {Scores.CopyScore(model.forward, validation, context):F3}; " +
            $"unigram {b.Unigram:F3}, KN bigram {b.Bigram:F3}, KN trigram {b.Trigram:F3}");
        return 0;
    }

    static string Cell(double? x) => x is { } v ? $"{v:F3}" : "";

    static Corpus Prepare(string name, Arguments a)
    {
        string dir = Path.Combine(a.Work, name);
        Directory.CreateDirectory(dir);
        RecallText? recall = null;
        string text = a.Data;
        if (RecallLayout.FromCorpusName(name) is { } layout)
        {
            recall = new RecallText(a.Pairs, a.Keys, a.Values, layout);
            text = Path.Combine(dir, "recall.txt");
            recall.Write(text, a.Lines, a.RecallSeed);
        }
        var clock = Stopwatch.StartNew();
        var tokenizer = BitLlamaTokenizer.FromJson(BpeTrainer.TrainFromFiles([text], new BpeTrainerOptions { VocabSize = a.VocabSize }), $"{name} tokenizer");
        string trainPath = Path.Combine(dir, "tokens.bin"), validationPath = Path.Combine(dir, "val.bin");
        var (trainCount, validationCount) = TokenCorpus.Encode(text, tokenizer, trainPath, validationPath);
        Console.WriteLine($"{name}: {text}, {tokenizer.VocabSize}-token BPE, {trainCount:N0} training and {validationCount:N0} validation tokens ({clock.Elapsed.TotalSeconds:F1} s)");
        if (recall is not null)
        {
            int split = recall.Keys.Concat(recall.Values).Count(w => tokenizer.Encode(w).Length != 1);
            var rng = new Random(a.RecallSeed);
            var lengths = Enumerable.Range(0, 200).Select(_ => Scores.EncodeRecallLine(tokenizer, recall.Line(rng)).Ids.Length).ToArray();
            Console.WriteLine($"{name}: {recall.Pairs} pairs per line, {recall.Keys.Count} keys, {recall.Values.Count} values, text seed {a.RecallSeed}; " +
                (split == 0 ? "every key and value is one token" : $"{split} keys/values take more than one token") +
                $"; {lengths.Average():F1} tokens per line (newline included)");
        }
        return new Corpus(name, text, tokenizer, TokenFile.Open(trainPath), TokenFile.Open(validationPath), recall);
    }

    /// <summary>N-gram cross-entropies on the validation tokens, fitted on the training tokens.</summary>
    static IEnumerable<(string Name, double Loss)> Baselines(Corpus c)
    {
        var b = BitLlamaTrainer.MeasureBaselines(c.Train, c.Validation, c.Tokenizer.VocabSize);
        return [("unigram (add-one)", b.Unigram), ("Kneser-Ney bigram", b.Bigram), ("Kneser-Ney trigram", b.Trigram)];
    }

    static TrainingOptions Options(Arguments a, string type)
    {
        var options = new TrainingOptions
        {
            HiddenDim = a.Dim, NumLayers = a.Layers, ContextLen = a.ContextLen, BatchSize = a.BatchSize, MaxSteps = a.Steps,
            LearningRate = a.Lr, WarmupSteps = a.WarmupSteps ?? Math.Min(100, a.Steps / 10), Seed = a.Seed, Threads = a.Threads,
            EvalInterval = 0, SaveInterval = int.MaxValue,
        }.WithMixer(type);
        if (type == "delta")
        {
            options.TttHeads = a.TttHeads ?? options.TttHeads;
            options.TttConv = a.TttConv ?? options.TttConv;
        }
        if (type != "attention") options.InnerLr = a.InnerLr ?? options.InnerLr;
        if (type != "attention") options.TttChunk = a.TttChunk ?? options.TttChunk;
        return options;
    }

    static ResultRow TrainAndScore(Corpus c, string type, Arguments a)
    {
        var options = Options(a, type);
        int every = Math.Max(1, a.Steps / 10);
        var clock = Stopwatch.StartNew();
        using var process = Process.GetCurrentProcess();
        var cpuStart = process.TotalProcessorTime;
        void Report(int step, double loss)
        {
            if (step % every == 0 || step == a.Steps)
                Console.Error.WriteLine($"  {c.Name}/{type}: step {step}/{a.Steps} loss {loss:F3} ({clock.Elapsed.TotalSeconds:F0} s)");
        }
        nn.Module<Tensor, Tensor> model = type == "attention"
            ? AttentionTrainer.Train(options, c.Tokenizer.VocabSize, c.Train, Report)
            : TrainProduct(options, c, Report);
        var trainTime = clock.Elapsed;
        process.Refresh();
        var trainCpu = process.TotalProcessorTime - cpuStart;
        using (model)
        {
            model.eval();
            Func<Tensor, Tensor> forward = model.forward;
            double validation = Scores.ValidationLoss(forward, c.Validation, a.ContextLen);
            double copy = Scores.CopyScore(forward, c.Validation, a.ContextLen);
            (double Score, double QueryValueLoss)? recall = c.Recall is { } r
                ? Scores.RecallScore(forward, c.Tokenizer, r, a.ContextLen, seed: a.RecallSeed + 1_000_000) : null;
            Console.Error.WriteLine($"  {c.Name}/{type}: validation {validation:F3}, copy {copy:F3}" + (recall is { } s ? $", recall {s.Score:F3}" : ""));
            return new ResultRow(c.Name, type, validation, copy, recall?.Score, recall?.QueryValueLoss, trainTime,
                $"seed {a.Seed}, {Parameters(model) / 1e3:F0} k params, {trainCpu.TotalSeconds:F0} s of CPU");
        }
    }

    static BitLlamaModel TrainProduct(TrainingOptions options, Corpus c, Action<int, double> report)
    {
        var result = new BitLlamaTrainer(options, c.Tokenizer.VocabSize).Train(c.Train, null, new Progress(p => report(p.Step, p.Loss)));
        return ModelWeights.FromWeights(result.Config, result.Weights);
    }

    static long Parameters(nn.Module model) => model.parameters().Sum(p => p.numel());

    sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}

static class MixerOptions
{
    /// <summary>Sets the TTT type, with its default inner learning rate; the attention yardstick reads no TTT field.</summary>
    public static TrainingOptions WithMixer(this TrainingOptions options, string type)
    {
        options.TttType = type == "delta" ? TttType.Delta : TttType.Reconstruct;
        return options;
    }
}
