using System.CommandLine;
using System.Globalization;
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
        var innerLr = new Option<float>("--inner-lr") { Description = "TTT inner learning rate", DefaultValueFactory = _ => d.InnerLr };
        var tttChunk = new Option<int>("--ttt-chunk") { Description = "TTT mini-batch size", DefaultValueFactory = _ => d.TttChunk };
        var seed = new Option<int>("--seed") { Description = "random seed (initialization and window sampling)", DefaultValueFactory = _ => d.Seed };
        var evalInterval = new Option<int>("--eval-interval") { Description = "steps between validation losses (0 = only at the end)", DefaultValueFactory = _ => d.EvalInterval };
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => d.Device };
        var threads = new Option<int>("--threads") { Description = "libtorch threads (0 = all cores)", DefaultValueFactory = _ => d.Threads };
        var output = new Option<string>("--output") { Description = "output directory: tokenizer, tokens, checkpoint, model", Required = true };
        var resume = new Option<bool>("--resume") { Description = "continue from OUTPUT/checkpoint.safetensors" };
        var stopAfter = new Option<int?>("--stop-after-steps") { Description = "end this invocation after N steps with a checkpoint (continue later with --resume)" };

        var command = new Command("train", "Train a BitLlama model on a text file.")
        {
            data, tokenizer, vocabSize, dim, layers, intermediate, contextLen, batchSize, lr, warmup, minLr, saveInterval, steps,
            innerLr, tttChunk, seed, evalInterval, device, threads, output, resume, stopAfter,
        };
        command.SetAction(r => CliCommands.Run(() => Run(r.Get(data), r.GetValue(tokenizer), r.GetResult(vocabSize) is { Implicit: false } ? r.Get(vocabSize) : null, r.Get(output), new TrainingOptions
        {
            HiddenDim = r.Get(dim), NumLayers = r.Get(layers), IntermediateDim = r.Get(intermediate), ContextLength = r.Get(contextLen),
            BatchSize = r.Get(batchSize), LearningRate = r.Get(lr), WarmupSteps = r.Get(warmup), MinLearningRate = r.Get(minLr),
            SaveInterval = r.Get(saveInterval), MaxSteps = r.Get(steps), InnerLr = r.Get(innerLr), TttChunk = r.Get(tttChunk),
            Seed = r.Get(seed), EvalInterval = r.Get(evalInterval), Device = r.Get(device), Threads = r.Get(threads),
            StopAfterSteps = r.GetValue(stopAfter), Resume = r.Get(resume), CheckpointDirectory = r.Get(output),
        })).GetAwaiter().GetResult());
        return command;
    }

    static int Run(string dataPath, string? tokenizerPath, int? vocabSize, string outputDir, TrainingOptions options)
    {
        options.Validate();
        if (options.InnerUpdateMayDiverge)
            Console.Error.WriteLine($"bit-llama: warning: inner_lr * ttt_chunk = {options.InnerLr * options.TttChunk:0.###} >= 2; the TTT inner update can diverge (lower --inner-lr or --ttt-chunk)");
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

        var weights = result.Weights;
        ModelWeights.ExportDirectory(outputDir, result.Config, tok.ToJson(), weights);
        string bitt = Path.Combine(outputDir, "model.bitt");
        ModelWeights.ExportBitt(bitt, result.Config, tok.ToJson(), weights);
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv, $"step {result.Step}/{options.MaxSteps}  train loss {result.TrainLoss:0.0000}"));
        if (result.ValidationLoss is { } v && validation.Count > 0)
            Console.WriteLine(string.Create(inv,
                $"validation loss {v:0.0000} nats; unigram entropy of the validation tokens {BitLlamaTrainer.UnigramCrossEntropy(train, validation, tok.VocabSize):0.0000} nats"));
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

    /// <summary>A live line (step, loss, lr, tok/s, ETA) on a terminal; periodic plain lines when stderr is redirected.</summary>
    sealed class ProgressLine(int totalSteps) : IProgress<TrainingProgress>
    {
        readonly bool _live = !Console.IsErrorRedirected;
        readonly int _every = Math.Max(1, totalSteps / 20);
        double? _lastValidation;

        public void Report(TrainingProgress p)
        {
            _lastValidation = p.ValidationLoss ?? _lastValidation;
            string validation = _lastValidation is { } v ? string.Create(CultureInfo.InvariantCulture, $"  val {v:0.0000}") : "";
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
