// QuickStart: train a small BitLlama on Moby-Dick through the ML.NET pipeline, compare its validation loss
// with the n-gram baselines (unigram, Kneser-Ney bigram and trigram), save it as .bitt, reload it and stream a completion.
//
//   dotnet run --project samples/QuickStart                 # default: delta TTT, 4000 steps on 1 thread, under 4 min, below the KN bigram (docs/quality.md)
//   dotnet run --project samples/QuickStart -- --long       # D=128, 4 layers, 1500 steps (not re-measured with delta; about an hour on a busy box)
//   dotnet run --project samples/QuickStart -- --tiny       # a toy model in seconds: checks that every step runs (CI runs this)
//   dotnet run --project samples/QuickStart -- --steps 1000 --dim 256 --layers 8 --prompt "The whale"
using BitTtt.MLNet;
using BitTtt.Training;
using Microsoft.ML;
using Spectre.Console;

var settings = QuickStartSettings.Parse(args, out int exitCode);
if (settings is null) return exitCode;

var ml = new MLContext(seed: 1);
IDataView data = ml.Data.LoadTextLines(settings.DataPath);   // one line (a paragraph) per row, whole, column "Text"
if (settings.Rows > 0) data = ml.Data.TakeRows(data, settings.Rows);

var options = new BitLlamaOptions
{
    TokensColumnName = "Tokens",
    HiddenDim = settings.HiddenDim,
    NumLayers = settings.NumLayers,
    TttType = settings.TttType,   // delta (4 heads, conv 4, inner_lr 1.0) unless --ttt-type reconstruct
    ContextLen = settings.ContextLen,
    BatchSize = settings.BatchSize,
    MaxSteps = settings.MaxSteps,
    WarmupSteps = Math.Min(100, settings.MaxSteps / 10),
    LearningRate = settings.LearningRate,
    EvalInterval = Math.Max(1, settings.MaxSteps / 5),
    EvalBatches = settings.EvalBatches,   // 32 × batch windows by default: most of the held-out paragraphs, so the loss is comparable with the n-gram baselines on the whole split
    Generation = new() { MaxTokens = settings.MaxTokens, Temperature = 0.7f },   // stored in moby.bitt: every door that loads it starts from these
    Device = settings.Device,
    Threads = settings.Threads,
    CheckpointDirectory = settings.RunDirectory,   // the checkpoint, metrics.csv and loss.png go here
    Seed = 42,   // the seed docs/quality.md was measured with; left unset, Fit takes one from MLContext(seed: 1)
};
IEstimator<ITransformer> pipeline;
try
{
    options.Validate();   // a bad --dim, --steps, --lr ... is one line here, not a stack trace from inside Fit
    pipeline = ml.Transforms.TokenizeForBitLlama(outputColumnName: "Tokens", inputColumnName: "Text", vocabSize: settings.VocabSize)
        .Append(ml.Transforms.BitLlama(options));
}
catch (ArgumentException e)
{
    return OptionError(e);
}

AnsiConsole.MarkupLine($"[bold]BitLlama QuickStart[/]: {Markup.Escape(Path.GetFileName(settings.DataPath))}, vocabulary {settings.VocabSize}, " +
    $"D={settings.HiddenDim}, {settings.NumLayers} layers, TTT {BitTtt.BitLlamaConfig.TttTypeName(settings.TttType)}, context {settings.ContextLen}, batch {settings.BatchSize}, {settings.MaxSteps} steps");

var clock = System.Diagnostics.Stopwatch.StartNew();
ITransformer model = null!;
try
{
    if (AnsiConsole.Profile.Capabilities.Interactive) model = FitWithProgressBars();
    else model = FitWithProgressLines();
}
catch (Exception e) when (e is ArgumentException or InvalidOperationException)   // too little text for --context-len, a diverged run (--lr)
{
    return OptionError(e);
}

// A terminal gets live bars. Redirected output (a log, CI) gets plain lines, a few per run: a live display
// written to a file would repeat itself on every refresh.
ITransformer FitWithProgressBars()
{
    ITransformer fitted = null!;
    AnsiConsole.Progress()
        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
        .Start(ctx =>
        {
            var tokenizer = ctx.AddTask("Tokenizer (byte-level BPE)", maxValue: 1);
            var training = ctx.AddTask("Training", autoStart: false, maxValue: settings.MaxSteps);
            OnTokenizerTrained(() =>
            {
                tokenizer.Value = 1;
                tokenizer.StopTask();
                training.StartTask();
            });
            double? lastValidation = null;
            options.Progress = new Reporter(p =>
            {
                lastValidation = p.ValidationLoss ?? lastValidation;
                training.Value = p.Step;
                training.Description = $"Training: loss {p.Loss:F3}" + (lastValidation is { } v ? $", validation {v:F3}" : "") + $", {p.TokensPerSecond:F0} tok/s";
            });
            fitted = pipeline.Fit(data);                        // trains the tokenizer, then the model
            training.Value = settings.MaxSteps;
        });
    return fitted;
}

ITransformer FitWithProgressLines()
{
    Console.WriteLine("Tokenizer (byte-level BPE) ...");
    OnTokenizerTrained(() => Console.WriteLine($"Tokenizer (byte-level BPE): done ({clock.Elapsed.TotalSeconds:F0} s)"));
    options.Progress = new Reporter(p =>
    {
        if (p.Step % Math.Max(1, p.TotalSteps / 10) == 0 || p.Step == p.TotalSteps || p.ValidationLoss is not null)
            Console.WriteLine($"  step {p.Step}/{p.TotalSteps} loss {p.Loss:F3}" + (p.ValidationLoss is { } pv ? $" validation {pv:F3}" : "") + $" ({p.Elapsed.TotalSeconds:F0} s)");
    });
    return pipeline.Fit(data);                                 // trains the tokenizer, then the model
}

void OnTokenizerTrained(Action done) => ml.Log += (_, e) =>
{
    if (e.Source == "BitLlama; TokenizeForBitLlama" && e.Message.Contains("Tokenizer trained", StringComparison.Ordinal)) done();
};

var trained = ((IEnumerable<ITransformer>)model).OfType<BitLlamaTransformer>().Single().Training!;
var table = new Table().AddColumns("", "nats/token");
table.AddRow("train loss (last step)", $"{trained.TrainLoss:F3}");
table.AddRow("validation loss", trained.ValidationLoss is { } vl ? $"{vl:F3}" : "n/a");
if (trained.Baselines is { } bl)
{
    table.AddRow("unigram baseline, add-one (validation)", $"{bl.Unigram:F3}");
    table.AddRow("Kneser-Ney bigram baseline (validation)", $"{bl.Bigram:F3}");
    table.AddRow("Kneser-Ney trigram baseline (validation)", $"{bl.Trigram:F3}");
}
AnsiConsole.Write(table);
if (trained.ValidationLoss is { } val && trained.Baselines is { } baselines)
    AnsiConsole.MarkupLine(baselines.AllBeatenBy(val)
        ? $"[green]{Markup.Escape(baselines.Verdict(val))}.[/]"
        : $"[yellow]{Markup.Escape(baselines.Verdict(val))}: train longer (--steps, --long).[/]");
AnsiConsole.MarkupLine($"Trained on {trained.TrainTokens:N0} tokens in {clock.Elapsed.TotalSeconds:F0} s.");
string runDirectory = Path.GetFullPath(settings.RunDirectory);
AnsiConsole.MarkupLine($"Metrics: [bold]{Markup.Escape(Path.Combine(runDirectory, "metrics.csv"))}[/]");
string lossCurve = Path.Combine(runDirectory, BitTtt.Training.LossCurve.FileName);
if (File.Exists(lossCurve)) AnsiConsole.MarkupLine($"Loss curve: [bold]{Markup.Escape(lossCurve)}[/]");

ml.Model.SaveAsBitt(model, settings.OutputPath);          // the .bitt model-saving extension
AnsiConsole.MarkupLine($"Saved [bold]{Markup.Escape(settings.OutputPath)}[/] ({new FileInfo(settings.OutputPath).Length / 1024.0:F0} KB).");
ITransformer loaded = ml.Model.LoadBitt(settings.OutputPath);  // a transformer that takes the same text column

var engine = ml.Model.CreatePredictionEngine<TextRow, Completion>(loaded);
AnsiConsole.MarkupLine($"[bold]PredictionEngine[/] \"{Markup.Escape(settings.Prompt)}\" -> \"{Markup.Escape(engine.Predict(new TextRow { Text = settings.Prompt }).Text)}\"");

var generator = ml.Model.CreateTextGenerator(loaded);     // the generation wrapper: options, streaming, sessions
// The completion continues the prompt mid-word as often as not, so the two are shown apart, as on the line above.
AnsiConsole.Markup($"[bold]Streaming[/] \"{Markup.Escape(settings.Prompt)}\" -> \"");
await foreach (string piece in generator.CompleteStreamingAsync(settings.Prompt, generator.DefaultOptions with { MaxTokens = settings.MaxTokens * 2 }))
    Console.Write(piece);
Console.WriteLine("\"");
AnsiConsole.MarkupLine($"Done in {clock.Elapsed.TotalSeconds:F0} s.");
return 0;

// The library names options as BitLlamaOptions does (HiddenDim); the user typed the QuickStart's flags (--dim).
static int OptionError(Exception e)
{
    Console.Error.WriteLine($"QuickStart: {BitTtt.OptionMessage.Format(e, QuickStartSettings.FlagOf)} (see --help)");
    return 2;
}

sealed class Reporter(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
