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

    const int DefaultVocabSize = 4096;

    public Command Create()
    {
        var d = new TrainingOptions();
        var data = new Option<string>("--data") { Description = "UTF-8 text file to train on (the last 5% is held out for validation)", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json to use, or 'gpt2' (default: train a byte-level BPE tokenizer on --data)" };
        var vocabSize = new Option<int>("--vocab-size") { Description = "vocabulary size of the tokenizer trained on --data", DefaultValueFactory = _ => DefaultVocabSize };
        var dim = new Option<int>("--dim") { Description = "hidden dimension (multiple of 4)", DefaultValueFactory = _ => d.HiddenDim };
        var layers = new Option<int>("--layers") { Description = "number of blocks", DefaultValueFactory = _ => d.NumLayers };
        var intermediate = new Option<int>("--intermediate-dim") { Description = "SwiGLU width (0 = 4 * dim)", DefaultValueFactory = _ => d.IntermediateDim };
        var contextLen = new Option<int>("--context-len") { Description = "tokens per training window", DefaultValueFactory = _ => d.ContextLength };
        var batchSize = new Option<int>("--batch-size") { Description = "windows per step", DefaultValueFactory = _ => d.BatchSize };
        var lr = new Option<double>("--lr") { Description = "peak learning rate", DefaultValueFactory = _ => d.LearningRate };
        var warmup = new Option<int>("--warmup-steps") { Description = "linear warmup steps", DefaultValueFactory = _ => d.WarmupSteps };
        var minLr = new Option<double>("--min-lr") { Description = "learning rate at the last step (cosine decay)", DefaultValueFactory = _ => d.MinLearningRate };
        var saveInterval = new Option<int>("--save-interval") { Description = "steps between checkpoints", DefaultValueFactory = _ => d.SaveInterval };
        var steps = new Option<int>("--steps") { Description = "total steps of the schedule", DefaultValueFactory = _ => d.MaxSteps };
        var tttType = new Option<string>("--ttt-type") { Description = "TTT layer: delta (delta rule with heads and a short convolution) or reconstruct (the seed's layer)", DefaultValueFactory = _ => BitLlamaConfig.TttTypeName(d.TttType) };
        var innerLr = new Option<float?>("--inner-lr")
        {
            Description = $"TTT inner learning rate: delta's scale of the per-token rate β (default {TrainingDefaults.DeltaInnerLr:0.0}), reconstruct's step η (default {TrainingDefaults.ReconstructInnerLr:0.0})",
        };
        var tttChunk = new Option<int>("--ttt-chunk") { Description = "reconstruct: TTT mini-batch size; delta: block size of the parallel training form (same result for any value)", DefaultValueFactory = _ => d.TttChunk };
        var tttHeads = new Option<int>("--ttt-heads") { Description = "delta: heads", DefaultValueFactory = _ => d.TttHeads };
        var tttHeadDim = new Option<int>("--ttt-head-dim") { Description = "delta: width of one head (0 = dim / heads)", DefaultValueFactory = _ => d.TttHeadDim };
        var tttConv = new Option<int>("--ttt-conv") { Description = "delta: kernel of the short causal convolution on q, k, v (0 = none)", DefaultValueFactory = _ => d.TttConv };
        var seed = new Option<int>("--seed") { Description = "random seed (initialization and window sampling)", DefaultValueFactory = _ => d.EffectiveSeed };
        var evalInterval = new Option<int>("--eval-interval") { Description = "steps between validation losses (0 = only at the end)", DefaultValueFactory = _ => d.EvalInterval };
        var evalBatches = new Option<int>("--eval-batches") { Description = "batches of --batch-size windows per validation loss", DefaultValueFactory = _ => d.EvalBatches };
        var weightDecay = new Option<double>("--weight-decay") { Description = "AdamW weight decay (matrices only)", DefaultValueFactory = _ => d.WeightDecay };
        var gradClip = new Option<double>("--grad-clip") { Description = "maximum global gradient L2 norm", DefaultValueFactory = _ => d.GradientClip };
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => d.Device };
        var threads = new Option<int>("--threads") { Description = "libtorch threads (0 = all cores)", DefaultValueFactory = _ => d.Threads };
        var output = new Option<string>("--output") { Description = "output directory: tokenizer, tokens, checkpoint, model", Required = true };
        var resume = new Option<bool>("--resume") { Description = "continue from OUTPUT/checkpoint.safetensors" };
        var stopAfter = new Option<int?>("--stop-after-steps") { Description = "end this invocation after N steps with a checkpoint (continue later with --resume)" };
        var logX = new Option<bool>("--log-x") { Description = "draw OUTPUT/loss.png with a log-scale step axis" };

        var command = new Command("train", "Train a BitLlama model on a text file.")
        {
            data, tokenizer, vocabSize, dim, layers, intermediate, contextLen, batchSize, lr, warmup, minLr, saveInterval, steps,
            tttType, innerLr, tttChunk, tttHeads, tttHeadDim, tttConv, seed, evalInterval, evalBatches, weightDecay, gradClip,
            device, threads, output, resume, stopAfter, logX,
        };
        command.SetAction(r => CliCommands.Run(() => Run(r.Get(data), r.GetValue(tokenizer), r.GetResult(vocabSize) is { Implicit: false } ? r.Get(vocabSize) : null, r.Get(output), new TrainingOptions
        {
            HiddenDim = r.Get(dim), NumLayers = r.Get(layers), IntermediateDim = r.Get(intermediate), ContextLength = r.Get(contextLen),
            BatchSize = r.Get(batchSize), LearningRate = r.Get(lr), WarmupSteps = r.Get(warmup), MinLearningRate = r.Get(minLr),
            SaveInterval = r.Get(saveInterval), MaxSteps = r.Get(steps), TttType = ParseTttType(r, tttType, [tttHeads, tttHeadDim, tttConv]),
            InnerLr = r.GetValue(innerLr), TttChunk = r.Get(tttChunk), TttHeads = r.Get(tttHeads), TttHeadDim = r.Get(tttHeadDim), TttConv = r.Get(tttConv),
            Seed = r.Get(seed), EvalInterval = r.Get(evalInterval), EvalBatches = r.Get(evalBatches), WeightDecay = r.Get(weightDecay),
            GradientClip = r.Get(gradClip), Device = r.Get(device), Threads = r.Get(threads),
            StopAfterSteps = r.GetValue(stopAfter), Resume = r.Get(resume), CheckpointDirectory = r.Get(output), LossCurveLogX = r.Get(logX),
        })).GetAwaiter().GetResult());
        return command;
    }

    // --ttt-type by name; the delta-only flags given with reconstruct are an error rather than silently ignored.
    static TttType ParseTttType(ParseResult r, Option<string> option, Option<int>[] deltaOnly)
    {
        string name = r.Get(option);
        var type = name switch
        {
            "delta" => TttType.Delta,
            "reconstruct" => TttType.Reconstruct,
            _ => throw new ArgumentException($"--ttt-type must be 'delta' or 'reconstruct', got '{name}'"),
        };
        if (type == TttType.Reconstruct && deltaOnly.FirstOrDefault(o => r.GetResult(o) is { Implicit: false }) is { } given)
            throw new ArgumentException($"{given.Name} applies only to --ttt-type delta");
        return type;
    }

    /// <summary>
    /// The flag of every <see cref="TrainingOptions"/> property: the options are defined once there, and a test
    /// fails when a property has no flag here (or the flag is missing from the command).
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, string> FlagOf = new Dictionary<string, string>
    {
        [nameof(TrainingOptions.HiddenDim)] = "--dim",
        [nameof(TrainingOptions.NumLayers)] = "--layers",
        [nameof(TrainingOptions.IntermediateDim)] = "--intermediate-dim",
        [nameof(TrainingOptions.ContextLength)] = "--context-len",
        [nameof(TrainingOptions.BatchSize)] = "--batch-size",
        [nameof(TrainingOptions.LearningRate)] = "--lr",
        [nameof(TrainingOptions.WarmupSteps)] = "--warmup-steps",
        [nameof(TrainingOptions.MinLearningRate)] = "--min-lr",
        [nameof(TrainingOptions.SaveInterval)] = "--save-interval",
        [nameof(TrainingOptions.MaxSteps)] = "--steps",
        [nameof(TrainingOptions.TttType)] = "--ttt-type",
        [nameof(TrainingOptions.InnerLr)] = "--inner-lr",
        [nameof(TrainingOptions.TttChunk)] = "--ttt-chunk",
        [nameof(TrainingOptions.TttHeads)] = "--ttt-heads",
        [nameof(TrainingOptions.TttHeadDim)] = "--ttt-head-dim",
        [nameof(TrainingOptions.TttConv)] = "--ttt-conv",
        [nameof(TrainingOptions.Seed)] = "--seed",
        [nameof(TrainingOptions.Device)] = "--device",
        [nameof(TrainingOptions.WeightDecay)] = "--weight-decay",
        [nameof(TrainingOptions.GradientClip)] = "--grad-clip",
        [nameof(TrainingOptions.EvalInterval)] = "--eval-interval",
        [nameof(TrainingOptions.EvalBatches)] = "--eval-batches",
        [nameof(TrainingOptions.StopAfterSteps)] = "--stop-after-steps",
        [nameof(TrainingOptions.CheckpointDirectory)] = "--output",
        [nameof(TrainingOptions.LossCurveLogX)] = "--log-x",
        [nameof(TrainingOptions.Resume)] = "--resume",
        [nameof(TrainingOptions.Threads)] = "--threads",
    };

    /// <summary>TrainingOptions.Validate names properties; a CLI user typed flags, so the message names those.</summary>
    static void Validate(TrainingOptions options)
    {
        try { options.Validate(); }
        catch (ArgumentException e) when (e.ParamName is not null)
        {
            string message = e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            foreach (var (property, flag) in FlagOf.OrderByDescending(p => p.Key.Length))
                message = System.Text.RegularExpressions.Regex.Replace(message, $@"\b{property}\b", flag);
            throw new ArgumentException(message, e);
        }
    }

    static int Run(string dataPath, string? tokenizerPath, int? vocabSize, string outputDir, TrainingOptions options)
    {
        Validate(options);
        if (options.InnerUpdateMayDiverge)
            Console.Error.WriteLine(options.TttType == TttType.Delta
                ? $"bit-llama: warning: inner_lr = {options.EffectiveInnerLr:0.###} > 2; the delta rule's update can diverge (lower --inner-lr)"
                : $"bit-llama: warning: inner_lr * ttt_chunk = {options.EffectiveInnerLr * options.TttChunk:0.###} >= 2; the TTT inner update can diverge (lower --inner-lr or --ttt-chunk)");
        TorchDevice.Resolve(options.Device);
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
            return Train(dataPath, tokenizerPath, vocabSize, outputDir, options, cts.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    static int Train(string dataPath, string? tokenizerPath, int? vocabSize, string outputDir, TrainingOptions options, CancellationToken ct)
    {
        try
        {
            Directory.CreateDirectory(outputDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{outputDir}: cannot create the output directory ({e.Message})", e);
        }
        AtomicFile.RemoveStaleTemporariesIn(outputDir);   // temp files of a run that was killed
        string checkpointPath = Path.Combine(outputDir, "checkpoint.safetensors");
        if (options.Resume && !File.Exists(checkpointPath))
            throw new FileNotFoundException($"--resume: no checkpoint at {checkpointPath} (run without --resume to start training)", checkpointPath);
        var tok = PrepareTokenizer(dataPath, tokenizerPath, vocabSize, outputDir, options.Resume, ct);
        string trainPath = Path.Combine(outputDir, "tokens.bin"), validationPath = Path.Combine(outputDir, "val.bin");
        if (!(options.Resume && File.Exists(trainPath) && File.Exists(validationPath)))
        {
            Console.Error.WriteLine($"bit-llama: tokenizing {dataPath} ...");
            var (trainCount, validationCount) = TokenCorpus.Encode(dataPath, tok, trainPath, validationPath, TrainingDefaults.ValidationFraction, ct);
            Console.Error.WriteLine($"bit-llama: {trainCount:N0} training tokens, {validationCount:N0} validation tokens");
        }
        using var train = TokenFile.Open(trainPath);
        using var validation = TokenFile.Open(validationPath);
        var trainer = new BitLlamaTrainer(options, tok.VocabSize);
        var progress = new ProgressLine(options.MaxSteps);
        var result = trainer.Train(train, validation.Count >= 2 ? validation : null, progress, ct);
        progress.Finish();
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

    // vocabSize is null when --vocab-size was not given (4096 then applies to a tokenizer trained here).
    static BitLlamaTokenizer PrepareTokenizer(string dataPath, string? tokenizerPath, int? vocabSize, string outputDir, bool resume, CancellationToken ct)
    {
        string saved = Path.Combine(outputDir, "tokenizer.json");
        if (resume && File.Exists(saved)) return BitLlamaTokenizer.Load(saved);
        if (!File.Exists(dataPath)) throw new FileNotFoundException($"{dataPath}: training text not found", dataPath);
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
            int size = vocabSize ?? DefaultVocabSize;
            Console.Error.WriteLine($"bit-llama: training a {size}-token BPE tokenizer on {dataPath} ...");
            tok = BitLlamaTokenizer.FromJson(BpeTrainer.TrainFromFiles([dataPath], new BpeTrainerOptions { VocabSize = size }, ct), saved);
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
