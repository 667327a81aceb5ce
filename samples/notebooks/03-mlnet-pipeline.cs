#!/usr/bin/env dotnet
// # 03 · The same model through an ML.NET pipeline
//
//     dotnet run samples/notebooks/03-mlnet-pipeline.cs              # D=32, 300 steps on the first 3000 lines (~1500 paragraphs)
//     dotnet run samples/notebooks/03-mlnet-pipeline.cs -- --tiny    # a toy model in seconds (what CI runs)
//     dotnet run samples/notebooks/03-mlnet-pipeline.cs -- --output DIR # where mlnet.bitt and mlnet-run/ go
//
// For an ML.NET user a BitLlama is two estimators in a pipeline: TokenizeForBitLlama (trains a byte-level
// BPE tokenizer on the text column and adds a token column) and BitLlama (trains the model on that column
// and adds a Completion column). Fit trains both; the fitted pipeline predicts with a PredictionEngine like
// any other ML.NET model, and SaveAsBitt / LoadBitt move it through one .bitt file.
//
// Training needs libtorch, so as in 01 the file sets UsesTorchBackend=true (Directory.Build.targets adds
// the libtorch package and the Debian loader fix). Loading and predicting alone would not.
#:project ../../src/BitTtt.MLNet/BitTtt.MLNet.csproj
#:project ../../src/BitTtt.MLNet.Training/BitTtt.MLNet.Training.csproj
#:property UsesTorchBackend=true
#:property PublishAot=false

using BitTtt.MLNet;
using BitTtt.Training;
using Microsoft.ML;

// ## 1. Settings
string here = (string)AppContext.GetData("EntryPointFileDirectoryPath")!;
bool tiny = args.Contains("--tiny") || Environment.GetEnvironmentVariable("BITLLAMA_SAMPLES_TINY") == "1";
int outAt = Array.IndexOf(args, "--output");
string output = Path.GetFullPath(outAt >= 0 && outAt + 1 < args.Length ? args[outAt + 1] : Path.Combine(here, "output"));
string book = Path.Combine(here, "..", "..", "data", "moby-dick.txt");

// ## 2. Load the text as an IDataView
// LoadTextLines (from BitTtt.MLNet) gives one row per line of the file, whole, in a column "Text"; in
// moby-dick.txt a line is a paragraph and paragraphs are separated by empty lines (empty rows train nothing).
// LoadFromTextFile<TextRow> would cut every line at its first tab and skip empty and "//" lines: fine for this
// book, wrong for exported data (docs/mlnet.md, "Loading text"). TakeRows keeps the first lines, as any ML.NET
// data view can be cut.
var ml = new MLContext(seed: 1);
IDataView data = ml.Data.LoadTextLines(book);
data = ml.Data.TakeRows(data, tiny ? 1200 : 3000);

// ## 3. The pipeline
// Every training option of the CLI is on BitLlamaOptions. With a CheckpointDirectory the trainer also writes
// metrics.csv and loss.png there (and a checkpoint, so a cancelled Fit can resume).
var options = new BitLlamaOptions
{
    TokensColumnName = "Tokens",
    HiddenDim = tiny ? 16 : 32, NumLayers = 1, ContextLen = 32, BatchSize = tiny ? 4 : 8,
    MaxSteps = tiny ? 20 : 300, WarmupSteps = tiny ? 2 : 30, LearningRate = 2e-3,
    EvalInterval = tiny ? 10 : 100, EvalBatches = 2, Threads = 1,
    Generation = new() { MaxTokens = tiny ? 12 : 40, Temperature = 0.7f },   // stored in the model: its defaults wherever it is loaded
    CheckpointDirectory = Path.Combine(output, "mlnet-run"),
};
var pipeline = ml.Transforms.TokenizeForBitLlama(outputColumnName: "Tokens", inputColumnName: "Text", vocabSize: tiny ? 300 : 512)
    .Append(ml.Transforms.BitLlama(options));

// ## 4. Fit
// ML.NET's log carries the trainer's messages (source "BitLlama; ..."): the corpus size, every step, the
// validation losses beside the n-gram baselines and the final verdict. Shown here: all but the plain steps.
ml.Log += (_, e) =>
{
    if (!e.Source.StartsWith("BitLlama", StringComparison.Ordinal) || e.Kind != Microsoft.ML.Runtime.ChannelMessageKind.Info) return;
    if (e.RawMessage.StartsWith("step ", StringComparison.Ordinal) && !e.RawMessage.Contains("validation", StringComparison.Ordinal)) return;
    Console.WriteLine($"  [{e.Source}] {e.RawMessage}");
};
var model = pipeline.Fit(data);

// The fitted BitLlama transformer carries a summary of its training.
var trained = ((IEnumerable<ITransformer>)model).OfType<BitLlamaTransformer>().Single().Training!;
Console.WriteLine($"trained {trained.Steps} steps on {trained.TrainTokens:N0} tokens: train loss {trained.TrainLoss:F3}, validation {trained.ValidationLoss:F3} nats/token");
Console.WriteLine($"loss curve: {Path.Combine(options.CheckpointDirectory, LossCurve.FileName)}");

// ## 5. Predict with a PredictionEngine
// Input: a TextRow (the prompt in "Text"). Output: Completion, whose Text is the generated continuation,
// sampled with the generation settings given in the options (Generation: MaxTokens, Temperature, ...).
var engine = ml.Model.CreatePredictionEngine<TextRow, Completion>(model);
Console.WriteLine($"PredictionEngine: Call me Ishmael.|{engine.Predict(new TextRow { Text = "Call me Ishmael." }).Text}");

// ## 6. Save as .bitt and load it back
// The .bitt file holds the config, the tokenizer, the weights and the generation settings. LoadBitt returns a
// transformer that reads the same text column and adds Completion. It runs on the managed engine: an app that
// only loads and predicts needs no libtorch.
string bitt = Path.Combine(output, "mlnet.bitt");
ml.Model.SaveAsBitt(model, bitt);
using var loaded = ml.Model.LoadBitt(bitt);
Console.WriteLine($"saved {bitt} ({new FileInfo(bitt).Length / 1024.0:F0} KB) and loaded it back");

// Scoring a whole IDataView works as for any transformer: Transform adds the Completion column lazily.
var prompts = ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "The whale" }, new TextRow { Text = "Queequeg" } });
foreach (var row in ml.Data.CreateEnumerable<PromptAndCompletion>(loaded.Transform(prompts), reuseRowObject: false))
    Console.WriteLine($"Transform: {row.Text}|{row.Completion}");

// ## 7. Streaming, with options per call
// The text generator wraps the same model for streaming and per-call sampling options.
var generator = ml.Model.CreateTextGenerator(loaded);
Console.Write("streaming: The sea|");
await foreach (string piece in generator.CompleteStreamingAsync("The sea", generator.DefaultOptions with { MaxTokens = tiny ? 12 : 60, Seed = 7 }))
    Console.Write(piece);
Console.WriteLine();
return 0;

/// <summary>A row of the scored data view: the prompt and the generated text.</summary>
sealed class PromptAndCompletion
{
    public string Text { get; set; } = "";
    public string Completion { get; set; } = "";
}
