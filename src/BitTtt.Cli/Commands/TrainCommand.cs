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
        var data = TrainingData.Prepare(options.Data, options.Tokenizer, vocabSizeGiven ? options.VocabSize : null, outputDir, options.Resume,
            line => Console.Error.WriteLine($"bit-llama: {line}"), ct);
        var tok = data.Tokenizer;
        string trainPath = Path.Combine(outputDir, TrainingData.TrainFileName), validationPath = Path.Combine(outputDir, TrainingData.ValidationFileName);
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
