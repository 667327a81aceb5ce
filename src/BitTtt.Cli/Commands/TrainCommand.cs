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
        if (arguments.TttType == TttType.Reconstruct
            && new[] { nameof(TrainingOptions.TttHeads), nameof(TrainingOptions.TttHeadDim), nameof(TrainingOptions.TttConv) }
                .Select(TrainFlags.Of).FirstOrDefault(f => f.Given(r)) is { } given)
            throw new ArgumentException($"{given.Flag} applies only to --ttt-type delta");
        arguments.Validate();
        bool vocabSizeGiven = TrainFlags.Of(nameof(TrainArguments.VocabSize)).Given(r);
        if (arguments.Tokenizer is null) new BpeTrainerOptions { VocabSize = arguments.VocabSize }.Validate();
        arguments.ToConfig(arguments.VocabSize);   // the shape fits (vocab_size × hidden_dim in one array, ...)
        if (arguments.Resume && arguments.Force) throw new ArgumentException("--resume continues the run in --output and --force replaces it: give one of them");
        if (arguments.InnerUpdateMayDiverge)
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
            return Train(arguments, vocabSizeGiven, cts.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    static int Train(TrainArguments options, bool vocabSizeGiven, CancellationToken ct)
    {
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
        string trainPath = Path.Combine(outputDir, "tokens.bin"), validationPath = Path.Combine(outputDir, "val.bin");
        bool reuseTokens = options.Resume && File.Exists(trainPath) && File.Exists(validationPath);
        // The texts are checked (found, regular, not empty) before a tokenizer is trained on them; a resumed run
        // that kept its token files does not read them again.
        IReadOnlyList<string> texts = reuseTokens && File.Exists(Path.Combine(outputDir, "tokenizer.json")) ? [] : TextFiles(options.Data);
        var tok = PrepareTokenizer(texts, options.Tokenizer, vocabSizeGiven ? options.VocabSize : null, outputDir, options.Resume, ct);
        if (!reuseTokens)
        {
            Console.Error.WriteLine($"bit-llama: tokenizing {Describe(texts)} ...");
            var (trainCount, validationCount) = TokenCorpus.Encode(texts, tok, trainPath, validationPath, TrainingDefaults.ValidationFraction, ct);
            Console.Error.WriteLine($"bit-llama: {trainCount:N0} training tokens, {validationCount:N0} validation tokens");
        }
        using var train = TokenFile.Open(trainPath);
        using var validation = TokenFile.Open(validationPath);
        var trainer = new BitLlamaTrainer(options, tok.VocabSize);
        var progress = new ProgressLine(options.MaxSteps);
        TrainingResult result;
        try
        {
            result = trainer.Train(train, validation.Count >= 2 ? validation : null, progress, ct);
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
        ModelPackage.WriteDirectory(outputDir, config, tok.ToJson(), weights);
        string bitt = Path.Combine(outputDir, "model.bitt");
        ModelPackage.WriteBitt(bitt, config, tok.ToJson(), weights);
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv, $"step {result.Step}/{options.MaxSteps}  train loss {result.TrainLoss:0.0000}"));
        if (result.ValidationLoss is { } v && result.Baselines is { } baselines)
            Console.WriteLine(baselines.Verdict(v));
        else if (result.ValidationLoss is { } alone)
            Console.WriteLine(string.Create(inv, $"validation loss {alone:0.0000} nats"));
        Console.WriteLine($"metrics: {result.MetricsPath ?? Path.Combine(Path.GetFullPath(outputDir), "metrics.csv")}" +
            (result.Baselines is null ? "" : $", {Path.Combine(Path.GetFullPath(outputDir), "baselines.json")}"));
        if (result.LossCurvePath is { } lossCurve) Console.WriteLine($"loss curve: {lossCurve}");
        Console.WriteLine($"model: {Path.GetFullPath(outputDir)} (config.json, tokenizer.json, model.safetensors) and {Path.GetFullPath(bitt)}");
        if (result.CheckpointPath is { } checkpoint) Console.WriteLine($"checkpoint: {checkpoint}");
        if (result.Completed) return 0;
        Console.WriteLine($"stopped at step {result.Step} of {options.MaxSteps}; continue with the same arguments plus --resume");
        return ct.IsCancellationRequested ? 130 : 0;
    }

    /// <summary>The --data files and directories as a list of text files, each checked (found, regular, not empty, within the size limit).</summary>
    static IReadOnlyList<string> TextFiles(string[] data)
    {
        var files = TrainingText.Files(data);
        foreach (string file in files) TrainingText.Length(file);
        return files;
    }

    static string Describe(IReadOnlyList<string> files) => files.Count == 1 ? files[0] : $"{files.Count} files ({files[0]}, ...)";

    // vocabSize is null when --vocab-size was not given (BpeTrainerOptions.DefaultVocabSize then applies to a tokenizer trained here).
    static BitLlamaTokenizer PrepareTokenizer(IReadOnlyList<string> texts, string? tokenizerPath, int? vocabSize, string outputDir, bool resume, CancellationToken ct)
    {
        string saved = Path.Combine(outputDir, "tokenizer.json");
        if (resume && File.Exists(saved)) return BitLlamaTokenizer.Load(saved);
        BitLlamaTokenizer tok;
        if (tokenizerPath is not null)
        {
            tok = TokenizerCommand.LoadTokenizer(tokenizerPath);
            // The model's vocab_size comes from the tokenizer; a different --vocab-size would be silently ignored.
            if (vocabSize is { } requested && requested != tok.VocabSize)
                throw new ArgumentException(
                    $"--vocab-size {requested} does not match {tokenizerPath}, which has {tok.VocabSize} tokens (drop --vocab-size, or omit --tokenizer to train a new one)");
        }
        else
        {
            int size = vocabSize ?? BpeTrainerOptions.DefaultVocabSize;
            Console.Error.WriteLine($"bit-llama: training a {size}-token BPE tokenizer on {Describe(texts)} ...");
            tok = BitLlamaTokenizer.FromJson(BpeTrainer.TrainFromFiles(texts, new BpeTrainerOptions { VocabSize = size }, ct), saved);
            // BPE stops when no pair is frequent enough: the model then has the smaller vocabulary, and says so.
            if (tok.VocabSize < size)
                Console.Error.WriteLine(
                    $"bit-llama: the text gives only {tok.VocabSize} tokens, not {size} ({(vocabSize is null ? "the default " : "")}--vocab-size): " +
                    $"no further pair occurs {BpeTrainerOptions.DefaultMinFrequency} times or more; the model's vocab_size is {tok.VocabSize}");
        }
        AtomicFile.WriteAllText(saved, tok.ToJson());
        return tok;
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
