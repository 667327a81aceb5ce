using System.CommandLine;
using System.Globalization;
using BitTtt.Formats;
using BitTtt.Inference;
using BitTtt.Tokenization;
using BitTtt.Training;

namespace BitTtt.Cli.Commands;

/// <summary>
/// <c>bit-llama train</c>: tokenizes a text (training or loading a tokenizer), trains a BitLlama with
/// checkpoints, and writes the model directory and <c>OUTPUT/model.bitt</c>.
/// </summary>
internal sealed class TrainCommand : ICliCommand
{
    public int Order => 10;

    public Command Create()
    {
        var command = new Command("train", "Train a BitLlama model on text files.");
        foreach (var flag in TrainFlags.All) command.Options.Add(flag.Option);
        command.SetAction(r => CliCommands.Run(() => Run(r), TrainFlags.FlagOf).GetAwaiter().GetResult());
        return command;
    }

    /// <summary>The files and names a run writes in OUTPUT that mark it as an earlier run's.</summary>
    static readonly string[] RunFiles = [TrainingCheckpoint.FileName, "model.bitt", "model.safetensors"];

    // Every check that needs no tokens runs here, before the tokenizer or the text is touched: a bad flag costs
    // one line, never a tokenized corpus first.
    static int Run(ParseResult r)
    {
        var arguments = TrainFlags.Bind(r);
        if (arguments.InitialModel is not null)
        {
            // The model's shape is the initial model's: a shape flag would be silently ignored, so it is an error.
            if (ShapeOptions.Select(TrainFlags.Of).FirstOrDefault(f => f.Given(r)) is { } shape)
                throw new ArgumentException($"{shape.Flag}: the model's shape comes from --init-from {arguments.InitialModel}; leave {shape.Flag} out");
            if (new[] { nameof(TrainArguments.Tokenizer), nameof(TrainArguments.VocabSize) }.Select(TrainFlags.Of).FirstOrDefault(f => f.Given(r)) is { } tok)
                throw new ArgumentException($"{tok.Flag}: a run from --init-from uses that model's tokenizer; leave {tok.Flag} out");
        }
        if (arguments.TttType == TttType.Reconstruct
            && new[] { nameof(TrainingOptions.TttHeads), nameof(TrainingOptions.TttHeadDim), nameof(TrainingOptions.TttConv) }
                .Select(TrainFlags.Of).FirstOrDefault(f => f.Given(r)) is { } given)
            throw new ArgumentException($"{given.Flag} applies only to --ttt-type delta");
        arguments.Validate();
        bool vocabSizeGiven = TrainFlags.Of(nameof(TrainArguments.VocabSize)).Given(r);
        if (arguments.InitialModel is { } initial) TrainingData.InitialModelFiles(initial);   // found and readable, before any work
        else
        {
            if (arguments.Tokenizer is null) new BpeTrainerOptions { VocabSize = arguments.VocabSize }.Validate();
            arguments.ToConfig(arguments.VocabSize);   // the shape fits (vocab_size × hidden_dim in one array, ...)
        }
        if (arguments.Resume && arguments.Force) throw new ArgumentException("--resume continues the run in --output and --force replaces it: give one of them");
        if (arguments.InitialModel is null && arguments.InnerUpdateMayDiverge)
            Console.Error.WriteLine(arguments.TttType == TttType.Delta
                ? $"bit-llama: warning: inner_lr = {arguments.EffectiveInnerLr:0.###} > 2; the delta rule's update can diverge (lower --inner-lr)"
                : $"bit-llama: warning: inner_lr * ttt_chunk = {arguments.EffectiveInnerLr * arguments.TttChunk:0.###} >= 2; the TTT inner update can diverge (lower --inner-lr or --ttt-chunk)");
        TorchDevice.Resolve(arguments.Device);
        string outputDir = arguments.CheckpointDirectory!;
        if (!arguments.Resume && !arguments.Force && RunFiles.Select(f => Path.Combine(outputDir, f)).FirstOrDefault(File.Exists) is { } earlier)
            throw new InvalidOperationException(
                $"{outputDir} holds an earlier run ({Path.GetFileName(earlier)}); --resume continues it, --force starts over and replaces it, or choose another --output");
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;   // finish the current step, save a checkpoint, then exit
            cts.Cancel();
            Console.Error.WriteLine();
            Console.Error.WriteLine("bit-llama: stopping after the current step (a checkpoint will be saved)...");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return Train(arguments, vocabSizeGiven, GivenShape(r), cts.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>The options a time budget plans that the user set with a flag: the plan keeps these.</summary>
    static HashSet<string> GivenShape(ParseResult r) =>
    [
        .. new[] { nameof(TrainingOptions.HiddenDim), nameof(TrainingOptions.NumLayers), nameof(TrainingOptions.BatchSize),
            nameof(TrainingOptions.LearningRate), nameof(TrainingOptions.WarmupSteps), nameof(TrainingOptions.MaxSteps) }
            .Where(p => TrainFlags.Of(p).Given(r)),
    ];

    static int Train(TrainArguments options, bool vocabSizeGiven, IReadOnlySet<string> givenShape, CancellationToken ct)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        string outputDir = options.CheckpointDirectory!;
        try
        {
            Directory.CreateDirectory(outputDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{outputDir}: cannot create the output directory ({e.Message})", e);
        }
        AtomicFile.RemoveStaleTemporariesIn(outputDir);   // temp files of a run that was killed
        string checkpointPath = Path.Combine(outputDir, TrainingCheckpoint.FileName);
        if (options.Resume && !File.Exists(checkpointPath))
            throw new FileNotFoundException($"--resume: no checkpoint at {checkpointPath} (run without --resume to start training)", checkpointPath);
        int? vocabSize = vocabSizeGiven ? options.VocabSize : null;
        if (options.TimeBudget is not null && vocabSize is null && options.Tokenizer is null)
        {
            long bytes = TrainingData.DataFiles(options.Data, options.Format).Sum(f => new FileInfo(f).Length);
            vocabSize = TimeBudgetPlanner.VocabularyFor(bytes);
            Console.Error.WriteLine($"bit-llama: time budget: a {vocabSize}-token vocabulary for {bytes:N0} bytes of text");
        }
        var data = TrainingData.Prepare(new TrainingData.Request(options.Data, outputDir)
        {
            Tokenizer = options.Tokenizer, VocabSize = vocabSize, Resume = options.Resume,
            DataFormat = options.Format, InitialModel = options.InitialModel,
        }, line => Console.Error.WriteLine($"bit-llama: {line}"), ct);
        var tok = data.Tokenizer;
        string trainPath = Path.Combine(outputDir, TrainingData.TrainFileName), validationPath = Path.Combine(outputDir, TrainingData.ValidationFileName);
        using var train = TokenFile.Open(trainPath);
        using var validation = TokenFile.Open(validationPath);
        if (options.TimeBudget is { } budget) PlanForBudget(options, tok.VocabSize, train.Count, budget - started.Elapsed, givenShape);
        var trainer = new BitLlamaTrainer(options, tok.VocabSize);
        var progress = new ProgressLine(options.MaxSteps);
        TrainingResult result;
        try
        {
            bool validate = data.Chat is null ? validation.Count >= 2 : validation.ExampleStarts.Count > 0;
            result = trainer.Train(train, validate ? validation : null, progress, ct);
        }
        finally
        {
            progress.Finish();
        }
        if (result.Step == result.StartStep)
            Console.Error.WriteLine($"bit-llama: nothing to train: the checkpoint is at step {result.Step} of {options.MaxSteps} (raise --steps to train further)");

        var weights = result.Weights;
        // The training seed is stored as the model's sampling seed, as ML.NET's Fit does: every door that loads the
        // model (ML.NET, generate, chat, the web API, Python) then reproduces its answers unless given another seed.
        var config = new SamplingOptions { Seed = options.EffectiveSeed }.StoreIn(result.Config);
        // A model trained on conversations stores the template they were encoded with (docs/model.md §6.2).
        if (data.Chat is { } chat) config = chat.StoreIn(config);
        ModelPackage.WriteDirectory(outputDir, config, tok.ToJson(), weights);
        string bitt = Path.Combine(outputDir, "model.bitt");
        ModelPackage.WriteBitt(bitt, config, tok.ToJson(), weights);
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv, $"step {result.Step}/{options.MaxSteps}  train loss {result.TrainLoss:0.0000}"));
        if (result.Examples is { } examples) Console.WriteLine(Describe(examples, options.ContextLen));
        if (result.ValidationLoss is { } v && result.Baselines is { } baselines)
            Console.WriteLine(baselines.Verdict(v));
        if (TrainingAdvice.For(result, options, train.Count, tokenizerTrained: data.TokenizerTrained) is { } advice)
            Console.WriteLine(OptionMessage.Format(advice, TrainFlags.FlagOf));
        else if (result.ValidationLoss is { } alone)
            Console.WriteLine(string.Create(inv, $"validation loss {alone:0.0000} nats{(data.Chat is null ? "" : " on the assistant replies")}") +
                (result.InitialValidationLoss is { } before ? string.Create(inv, $" (before fine-tuning: {before:0.0000})") : ""));
        if (data.Chat is not null && result.Completed && data.ValidationConversations > 0)
            PrintAnswers(options, outputDir, config, tok, weights, data.ValidationConversations, ct);
        Console.WriteLine($"metrics: {result.MetricsPath ?? Path.Combine(Path.GetFullPath(outputDir), "metrics.csv")}" +
            (result.Baselines is null ? "" : $", {Path.Combine(Path.GetFullPath(outputDir), "baselines.json")}"));
        if (result.LossCurvePath is { } lossCurve) Console.WriteLine($"loss curve: {lossCurve}");
        Console.WriteLine($"model: {Path.GetFullPath(outputDir)} (config.json, tokenizer.json, model.safetensors) and {Path.GetFullPath(bitt)}");
        if (result.CheckpointPath is { } checkpoint) Console.WriteLine($"checkpoint: {checkpoint}");
        if (result.Completed) return 0;
        Console.WriteLine($"stopped at step {result.Step} of {options.MaxSteps}; continue with the same arguments plus --resume");
        return ct.IsCancellationRequested ? 130 : 0;
    }

    /// <summary>Measures the candidate shapes, applies the plan to <paramref name="options"/> and prints it with the flags that repeat it.</summary>
    static void PlanForBudget(TrainArguments options, int vocabSize, long trainTokens, TimeSpan left, IReadOnlySet<string> givenShape)
    {
        if (left <= TimeSpan.Zero)
            throw new InvalidOperationException($"--time-budget {TimeBudgetPlanner.Format(options.TimeBudget!.Value)} was spent before training started (tokenizing took longer); give a larger budget");
        Console.Error.WriteLine($"bit-llama: time budget: measuring step times for {trainTokens:N0} training tokens ...");
        var plan = TimeBudgetPlanner.Plan(options, vocabSize, trainTokens, left, givenShape);
        foreach (var trial in plan.Trials) Console.Error.WriteLine($"bit-llama:   {trial}");
        TimeBudgetPlanner.Apply(options, plan);
        Console.Error.WriteLine($"bit-llama: {plan.Describe(options.TimeBudget!.Value)}");
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bit-llama: the same run without the budget: --vocab-size {vocabSize} --dim {plan.HiddenDim} --layers {plan.NumLayers} --batch-size {plan.BatchSize} " +
            $"--lr {plan.LearningRate:0.######} --warmup-steps {plan.WarmupSteps} --steps {plan.MaxSteps}"));
    }

    /// <summary>The properties a model from --init-from brings; their flags are errors beside it.</summary>
    static readonly string[] ShapeOptions =
    [
        nameof(TrainingOptions.HiddenDim), nameof(TrainingOptions.NumLayers), nameof(TrainingOptions.IntermediateDim), nameof(TrainingOptions.TttType),
        nameof(TrainingOptions.InnerLr), nameof(TrainingOptions.TttChunk), nameof(TrainingOptions.TttHeads), nameof(TrainingOptions.TttHeadDim),
        nameof(TrainingOptions.TttConv),
    ];

    static string Describe(ExampleStats s, int contextLen)
    {
        string text = $"conversations: {s.Trained:N0} of {s.Examples:N0} trained on";
        if (s.Cut > 0) text += $"; {s.Cut:N0} longer than --context-len + 1 = {contextLen + 1} tokens were trained on their first {contextLen + 1}";
        if (s.Skipped > 0) text += $"; {s.Skipped:N0} skipped (no assistant token within the first {contextLen + 1})";
        return text;
    }

    /// <summary>
    /// The exact-match rate of greedy answers on the validation conversations (the last ones of --data): of the trained
    /// model, and of the --init-from model as it was, through its own chat format (what a user of it got before).
    /// </summary>
    static void PrintAnswers(TrainArguments options, string outputDir, BitLlamaConfig config, BitLlamaTokenizer tok,
        IReadOnlyList<SafeTensorData> weights, int validationConversations, CancellationToken ct)
    {
        var held = new Queue<IReadOnlyList<ChatTurn>>(validationConversations + 1);   // the last ones, without holding the others
        foreach (var example in TrainingData.DataFiles(options.Data, options.Format).SelectMany(f => ChatData.Read(f)))
        {
            held.Enqueue(example.Messages);
            if (held.Count > validationConversations) held.Dequeue();
        }
        using var trained = Llama.FromWeights(config, tok, weights);
        var after = ChatEvaluator.Evaluate(trained, held, cancellationToken: ct);
        string line = string.Create(CultureInfo.InvariantCulture,
            $"answers: {after.ExactMatches}/{after.Replies} validation replies exact ({after.ExactMatchRate:P1})");
        if (options.InitialModel is { } initial)
        {
            var start = PretrainedModel.Load(initial);
            using var before = Llama.FromWeights(start.Config, start.Tokenizer, start.Weights);
            var was = ChatEvaluator.Evaluate(before, held, cancellationToken: ct);
            line += string.Create(CultureInfo.InvariantCulture, $"; before fine-tuning {was.ExactMatches}/{was.Replies} ({was.ExactMatchRate:P1}{(was.Chat ? "" : ", plain-text format")})");
        }
        Console.WriteLine(line);
    }

    /// <summary>
    /// A live line (step, loss, lr, tok/s, ETA) on a terminal; periodic plain lines when stderr is redirected.
    /// The n-gram baselines get a line of their own when first known, and follow every validation loss.
    /// </summary>
    sealed class ProgressLine(int totalSteps) : IProgress<TrainingProgress>
    {
        readonly bool _live = !Console.IsErrorRedirected;
        readonly int _every = Math.Max(1, totalSteps / 20);
        double? _lastValidation;
        bool _baselinesShown;

        public void Report(TrainingProgress p)
        {
            if (p.Baselines is { } b && !_baselinesShown)
            {
                if (_live) Console.Error.WriteLine();
                Console.Error.WriteLine($"bit-llama: n-gram baselines on the validation split (nats/token): {b}");
                _baselinesShown = true;
            }
            _lastValidation = p.ValidationLoss ?? _lastValidation;
            string validation = _lastValidation is { } v
                ? string.Create(CultureInfo.InvariantCulture, $"  val {v:0.0000}") +
                  (p.Baselines is { } bl ? string.Create(CultureInfo.InvariantCulture, $" (1g {bl.Unigram:0.00} 2g {bl.Bigram:0.00} 3g {bl.Trigram:0.00})") : "")
                : "";
            string line = string.Create(CultureInfo.InvariantCulture,
                $"step {p.Step}/{p.TotalSteps}  loss {p.Loss:0.0000}  lr {p.LearningRate:0.00e+00}  {p.TokensPerSecond:0} tok/s  ETA {p.Remaining:hh\\:mm\\:ss}{validation}");
            if (_live) Console.Error.Write($"\r{line}   ");
            else if (p.Step % _every == 0 || p.ValidationLoss is not null || p.Step == p.TotalSteps) Console.Error.WriteLine(line);
        }

        public void Finish()
        {
            if (_live) Console.Error.WriteLine();
        }
    }
}
