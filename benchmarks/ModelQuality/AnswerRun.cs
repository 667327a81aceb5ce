using System.Diagnostics;
using System.Globalization;
using BitTtt;
using BitTtt.Inference;
using BitTtt.Tokenization;
using BitTtt.Training;
using TorchSharp;
using static TorchSharp.torch;

// Answers from the conversation: each model type is trained on support-desk conversations (SupportChats, account
// questions only: the answer is a fact of the system message's account card, new facts in every conversation) with
// the loss on the assistant replies, then asked the questions of conversations it never saw. Only a model that
// recalls the card from what it read can answer: the best answer without reading it (the most likely value for each
// question) is right ChanceExactMatch of the time.
//
//   exact match    greedy reply (argmax, up to the end of turn or 24 tokens) equal to the reference, whitespace normalised
//   fact recall    greedy reply contains the asked fact's value (right recall, possibly in a wrong sentence)
//   reply loss     mean −ln p of the reference reply's tokens and its end of turn
// Every model is scored by the same code on its TorchSharp forward; the product types (delta, reconstruct) are also
// asked through their managed engine (LlamaSession.Reply, what every chat door calls): "engine exact match".
//
// Shape key (docs/model.md): B = batch, T = time, V = vocab.

/// <summary>Options of <c>answer</c> and <c>answer-data</c>.</summary>
sealed record AnswerArguments
{
    public int Steps { get; init; } = 3000;
    public int Dim { get; init; } = 64;
    public int Layers { get; init; } = 2;
    public int ContextLen { get; init; } = 64;
    public int BatchSize { get; init; } = 8;
    public int VocabSize { get; init; } = 1024;
    public double Lr { get; init; } = 2e-3;
    public int Seed { get; init; } = 42;
    public int Threads { get; init; }
    public string[] Types { get; init; } = ["reconstruct", "delta", "attention"];
    public int TrainExamples { get; init; } = 6000;
    public int TestExamples { get; init; } = 300;
    public int DataSeed { get; init; } = 1;
    public double DeskShare { get; init; }
    public string Work { get; init; } = Path.Combine(Path.GetTempPath(), "bitttt-answer");
    public string? Output { get; init; }

    public const string Usage = """
        usage: ModelQuality answer [options]     train each --types on support-desk conversations, ask new ones, print the table
          --steps N (3000)  --dim N (64)  --layers N (2)  --context-len N (64)  --batch-size N (8)  --vocab-size N (1024)
          --lr X (0.002)    --seed N (42)  --threads N (0 = all cores)  --types reconstruct,delta,attention
          --train-examples N (6000)  --test-examples N (300)  --data-seed N (1)  --work DIR (a temp folder)
        usage: ModelQuality answer-data --output FILE [--examples N (--train-examples) --data-seed N --desk-share X (0)]
        """;

    public static AnswerArguments Parse(string[] args)
    {
        var s = new AnswerArguments();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (i + 1 >= args.Length) throw new ArgumentException($"{a} needs a value\n{Usage}");
            string v = args[++i];
            int Int() => int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n : throw new ArgumentException($"{a} {v}: expected an integer");
            double Real() => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) ? x : throw new ArgumentException($"{a} {v}: expected a number");
            s = a switch
            {
                "--steps" => s with { Steps = Int() },
                "--dim" => s with { Dim = Int() },
                "--layers" => s with { Layers = Int() },
                "--context-len" => s with { ContextLen = Int() },
                "--batch-size" => s with { BatchSize = Int() },
                "--vocab-size" => s with { VocabSize = Int() },
                "--lr" => s with { Lr = Real() },
                "--seed" => s with { Seed = Int() },
                "--threads" => s with { Threads = Int() },
                "--types" => s with { Types = v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) },
                "--train-examples" or "--examples" => s with { TrainExamples = Int() },
                "--test-examples" => s with { TestExamples = Int() },
                "--data-seed" => s with { DataSeed = Int() },
                "--desk-share" => s with { DeskShare = Real() },
                "--work" => s with { Work = v },
                "--output" => s with { Output = v },
                _ => throw new ArgumentException($"unknown option {a}\n{Usage}"),
            };
        }
        foreach (var t in s.Types)
            if (t is not ("reconstruct" or "delta" or "attention")) throw new ArgumentException($"--types: unknown type '{t}' (expected reconstruct, delta, attention)");
        if (s.TrainExamples <= 0 || s.TestExamples <= 0) throw new ArgumentException("--train-examples and --test-examples must be positive");
        if (!(s.DeskShare >= 0 && s.DeskShare <= 1)) throw new ArgumentException($"--desk-share must be in [0, 1], got {s.DeskShare}");
        return s;
    }
}

static class AnswerRun
{
    /// <summary>The best exact match without reading the card: the most likely value of each of the five facts, asked uniformly.</summary>
    public const double ChanceExactMatch = (1.0 / 16 + 1.0 / 4 + 1.0 / 16 + 1.0 / (12 * 28) + 1.0 / 900) / 5;

    public static int DataCommand(AnswerArguments a)
    {
        if (a.Output is null) throw new ArgumentException($"answer-data needs --output FILE\n{AnswerArguments.Usage}");
        SupportChats.Write(a.Output, a.TrainExamples, a.DataSeed, a.DeskShare);
        Console.WriteLine($"{a.Output}: {a.TrainExamples} support-desk conversations, data seed {a.DataSeed}, desk questions {a.DeskShare:P0}");
        return 0;
    }

    sealed record Row(string Model, double? ReplyLoss, double ExactMatch, double? FactRecall, double? EngineExactMatch, TimeSpan TrainTime, string Note);

    public static int Run(AnswerArguments a)
    {
        Directory.CreateDirectory(a.Work);
        var clock = Stopwatch.StartNew();
        string trainJsonl = Path.Combine(a.Work, "train.jsonl"), testJsonl = Path.Combine(a.Work, "test.jsonl");
        SupportChats.Write(trainJsonl, a.TrainExamples, a.DataSeed, 0);
        SupportChats.Write(testJsonl, a.TestExamples, a.DataSeed + 1_000_000, 0);   // a seed never trained on: new cards
        var tokenizer = BitLlamaTokenizer.FromJson(BpeTrainer.TrainFromTexts(ChatData.Texts([trainJsonl]), new BpeTrainerOptions { VocabSize = a.VocabSize }), "answer tokenizer");
        var format = ChatFormat.Default(tokenizer);
        string trainTokens = Path.Combine(a.Work, "train.bin"), testTokens = Path.Combine(a.Work, "test.bin");
        ChatCorpus.Encode([trainJsonl], format, trainTokens, Path.Combine(a.Work, "unused.bin"), validationFraction: 0);
        ChatCorpus.Encode([testJsonl], format, testTokens, Path.Combine(a.Work, "unused.bin"), validationFraction: 0);
        var test = ChatData.Read(testJsonl).Select(e => e.Messages).ToList();
        using var train = TokenFile.Open(trainTokens);
        using var held = TokenFile.Open(testTokens);
        int longest = held.ExampleStarts.Select((s, i) => (int)((i + 1 < held.ExampleStarts.Count ? held.ExampleStarts[i + 1] : held.Count) - s)).Max();
        Console.WriteLine($"answer: D={a.Dim}, {a.Layers} layers, context {a.ContextLen}, batch {a.BatchSize}, {a.Steps} steps, lr {a.Lr}, BPE {tokenizer.VocabSize}, seed {a.Seed}; " +
            $"{a.TrainExamples} training conversations ({train.Count:N0} tokens), {a.TestExamples} test conversations with new facts (longest {longest} tokens), " +
            $"threads {(a.Threads > 0 ? a.Threads : Environment.ProcessorCount)} of {Environment.ProcessorCount} cores");

        var rows = new List<Row> { new("best answer without reading the card", null, ChanceExactMatch, null, null, TimeSpan.Zero, "the most likely value of each fact") };
        foreach (string type in a.Types)
        {
            var options = new TrainingOptions
            {
                HiddenDim = a.Dim, NumLayers = a.Layers, ContextLen = a.ContextLen, BatchSize = a.BatchSize, MaxSteps = a.Steps,
                LearningRate = a.Lr, WarmupSteps = Math.Min(100, a.Steps / 10), Seed = a.Seed, Threads = a.Threads,
                EvalInterval = 0, SaveInterval = int.MaxValue, TttType = type == "delta" ? TttType.Delta : TttType.Reconstruct,
            };
            int every = Math.Max(1, a.Steps / 10);
            var trainClock = Stopwatch.StartNew();
            void Report(int step, double loss)
            {
                if (step % every == 0 || step == a.Steps)
                    Console.Error.WriteLine($"  answer/{type}: step {step}/{a.Steps} loss {loss:F3} ({trainClock.Elapsed.TotalSeconds:F0} s)");
            }
            double? engine = null;
            nn.Module<Tensor, Tensor> model;
            if (type == "attention") model = AttentionTrainer.Train(options, tokenizer.VocabSize, train, Report);
            else
            {
                var result = new BitLlamaTrainer(options, tokenizer.VocabSize).Train(train, null, new Progress(p => Report(p.Step, p.Loss)));
                using (var llama = Llama.FromWeights(format.StoreIn(result.Config), tokenizer, result.Weights))
                    engine = ChatEvaluator.Evaluate(llama, test, maxReplyTokens: 24).ExactMatchRate;
                model = ModelWeights.FromWeights(result.Config, result.Weights);
            }
            var trainTime = trainClock.Elapsed;
            using (model)
            {
                model.eval();
                var (loss, exact, recall) = Score(model.forward, format, test);
                Console.Error.WriteLine($"  answer/{type}: reply loss {loss:F3}, exact match {exact:P1}, fact recall {recall:P1}" + (engine is { } e ? $", engine exact match {e:P1}" : ""));
                rows.Add(new Row(type, loss, exact, recall, engine, trainTime, $"seed {a.Seed}, {model.parameters().Sum(p => p.numel()) / 1e3:F0} k params"));
            }
        }
        Console.WriteLine();
        Console.WriteLine("| model | exact match | fact recall | engine exact match | reply loss (nats/token) | train time | note |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            Console.WriteLine($"| {r.Model} | {r.ExactMatch:P1} | {Cell(r.FactRecall)} | {Cell(r.EngineExactMatch)} | {(r.ReplyLoss is { } l ? l.ToString("F3", CultureInfo.InvariantCulture) : "")} | " +
                $"{(r.TrainTime > TimeSpan.Zero ? $"{r.TrainTime.TotalSeconds:F0} s" : "")} | {r.Note} |");
        Console.WriteLine($"\nwall time {clock.Elapsed.TotalMinutes:F1} min (machine shared with other work: times are indicative only)");
        return 0;
    }

    static string Cell(double? x) => x is { } v ? v.ToString("P1", CultureInfo.InvariantCulture) : "";

    /// <summary>Reply loss, exact match and fact recall of greedy replies, from the model's forward on whole sequences.</summary>
    static (double Loss, double Exact, double Recall) Score(Func<Tensor, Tensor> forward, ChatFormat format, IReadOnlyList<IReadOnlyList<ChatTurn>> test)
    {
        using var _ = no_grad();
        double loss = 0;
        long tokens = 0;
        int exact = 0, recall = 0;
        foreach (var conversation in test)
        {
            using var scope = NewDisposeScope();
            var before = conversation.Take(conversation.Count - 1).ToArray();
            string reference = conversation[^1].Content;
            int[] prompt = format.EncodeReply(before);
            int[] target = [.. format.Tokenizer.Encode(reference, parseSpecialTokens: false), format.EndOfTurnId];
            long[] all = [.. prompt.Concat(target).Select(i => (long)i)];
            var logp = forward(tensor(all, [1, all.Length])).log_softmax(-1);                  // (1, T, V)
            for (int t = prompt.Length; t < all.Length; t++) loss -= logp[0, t - 1, all[t]].item<float>();
            tokens += target.Length;
            var reply = new List<long>(prompt.Select(i => (long)i));
            var generated = new List<int>();
            for (int step = 0; step < 24; step++)
            {
                var logits = forward(tensor(reply.ToArray(), [1, reply.Count]));                  // (1, T, V)
                int next = (int)logits[0, reply.Count - 1].argmax().item<long>();
                if (next == format.EndOfTurnId) break;
                generated.Add(next);
                reply.Add(next);
            }
            string answer = ChatEvaluator.Normalize(format.Tokenizer.Decode(generated));
            if (answer == ChatEvaluator.Normalize(reference)) exact++;
            if (FactValue(before[0].Content, conversation[^1].Content) is { } value && answer.Contains(value, StringComparison.Ordinal)) recall++;
        }
        return (loss / tokens, (double)exact / test.Count, (double)recall / test.Count);
    }

    /// <summary>The value of the card's fact that the reference reply states (the card value found in it).</summary>
    static string? FactValue(string card, string reference)
    {
        foreach (string fact in card.Split(". ", StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            int colon = fact.IndexOf(": ", StringComparison.Ordinal);
            if (colon < 0) continue;
            string value = fact[(colon + 2)..].TrimEnd('.');
            if (reference.Contains(value, StringComparison.Ordinal)) return value;
        }
        return null;
    }

    sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
