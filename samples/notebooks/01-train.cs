#!/usr/bin/env dotnet
// # 01 · Train a BitLlama on the bundled corpus
//
// A .NET 10 file-based app: no project file, just this one file. Run it from the repository root:
//
//     dotnet run samples/notebooks/01-train.cs                # D=64, 2 layers, 1000 steps: about a minute on 2 cores
//     dotnet run samples/notebooks/01-train.cs -- --tiny      # a toy model in seconds (what CI runs)
//     dotnet run samples/notebooks/01-train.cs -- --output DIR   # where the files go (default samples/notebooks/output)
//
// It trains with the library directly (BitTtt.Training), the same steps `bit-llama train` takes:
// a byte-level BPE tokenizer, token files, the TorchSharp trainer, then a `.bitt` file for the CPU engine.
// Samples 02 and 04 read the model this one writes; 03 does the same training through ML.NET.
// With `--tiny` (or `BITLLAMA_SAMPLES_TINY=1`) everything is small enough that the loss barely moves:
// it shows that each step runs, not what the model can learn.
//
// ## The directives
// `#:project` references the library by its project (relative to this file). `UsesTorchBackend=true`
// is the switch the repository's executables and tests set: Directory.Build.targets then adds the libtorch
// package and the build step that makes TorchSharp's native library load on Debian 12 / Ubuntu 22.04
// (docs/training.md). The repository's Directory.Build.props applies to file-based apps too, so warnings
// are errors here as everywhere. File-based apps default to native AOT publishing, which TorchSharp does
// not support, hence `PublishAot=false`.
#:project ../../src/BitTtt.Training/BitTtt.Training.csproj
#:property UsesTorchBackend=true
#:property PublishAot=false

using System.Globalization;
using BitTtt;
using BitTtt.Formats;
using BitTtt.Tokenization;
using BitTtt.Training;

// ## 1. Settings
// `EntryPointFileDirectoryPath` is this file's folder (a file-based app's own output lives elsewhere),
// so the corpus and the output folder are found wherever you run it from.
string here = (string)AppContext.GetData("EntryPointFileDirectoryPath")!;
bool tiny = args.Contains("--tiny") || Environment.GetEnvironmentVariable("BITLLAMA_SAMPLES_TINY") == "1";
int outAt = Array.IndexOf(args, "--output");
string output = Path.GetFullPath(outAt >= 0 && outAt + 1 < args.Length ? args[outAt + 1] : Path.Combine(here, "output"));
string book = Path.Combine(here, "..", "..", "data", "moby-dick.txt");
Directory.CreateDirectory(output);

var options = new TrainingOptions
{
    HiddenDim = tiny ? 16 : 64, NumLayers = tiny ? 1 : 2, ContextLen = tiny ? 32 : 64, BatchSize = tiny ? 4 : 8,
    MaxSteps = tiny ? 30 : 1000, WarmupSteps = tiny ? 3 : 100, LearningRate = 2e-3, MinLearningRate = 1e-4,
    EvalInterval = tiny ? 10 : 100, EvalBatches = tiny ? 2 : 16, SaveInterval = tiny ? 30 : 500,
    Threads = 1,                     // at this size one libtorch thread is faster than two (docs/quality.md)
    CheckpointDirectory = output,    // checkpoint.safetensors, metrics.csv, baselines.json and loss.png go here
};
int vocabSize = tiny ? 300 : 1024;

// ## 2. The corpus
// The whole book, or its first 600 paragraphs with --tiny. A copy goes beside the model as corpus.txt, so
// sample 04 can score the model on exactly the part that was held out.
string corpus = Path.Combine(output, "corpus.txt");
AtomicFile.WriteAllText(corpus, tiny
    ? string.Join('\n', File.ReadLines(book).Take(600)) + "\n"
    : File.ReadAllText(book));
Console.WriteLine($"corpus: {corpus} ({new FileInfo(corpus).Length:N0} bytes)");

// ## 3. A tokenizer trained on the text
// Byte-level BPE: ids 0-2 are <unk>, <s>, </s>, then the 256 byte symbols, then the merges. Any text
// round-trips, so the model never meets an unknown character. The result is Hugging Face tokenizer.json text.
string tokenizerJson = BpeTrainer.TrainFromFiles([corpus], new BpeTrainerOptions { VocabSize = vocabSize });
var tokenizer = BitLlamaTokenizer.FromJson(tokenizerJson);
AtomicFile.WriteAllText(Path.Combine(output, "tokenizer.json"), tokenizerJson);
Console.WriteLine($"tokenizer: {tokenizer.VocabSize} tokens; \"Call me Ishmael.\" -> [{string.Join(", ", tokenizer.Encode("Call me Ishmael."))}]");

// ## 4. Token files
// The text becomes int32 ids on disk (memory-mapped while training, so a corpus need not fit in memory).
// The last 5% of the text, from a line boundary, is held out for the validation loss.
string trainPath = Path.Combine(output, "tokens.bin"), validationPath = Path.Combine(output, "val.bin");
var (trainTokens, validationTokens) = TokenCorpus.Encode(corpus, tokenizer, trainPath, validationPath, TrainingDefaults.ValidationFraction);
Console.WriteLine($"tokens: {trainTokens:N0} to train on, {validationTokens:N0} held out");

// ## 5. Train
// AdamW, warmup then cosine decay, gradient clipping; the validation loss every EvalInterval steps. At the
// start the trainer also counts three n-gram models on the same split (unigram, Kneser-Ney bigram and
// trigram): the losses a language model has to beat to have learned more than counting.
using var train = TokenFile.Open(trainPath);
using var validation = TokenFile.Open(validationPath);
var trainer = new BitLlamaTrainer(options, tokenizer.VocabSize);
var result = trainer.Train(train, validation, new ProgressLines(options.MaxSteps));

var inv = CultureInfo.InvariantCulture;
Console.WriteLine(string.Create(inv, $"step {result.Step}: train loss {result.TrainLoss:0.000} nats/token"));
if (result.ValidationLoss is { } loss && result.Baselines is { } baselines)
    Console.WriteLine(baselines.Verdict(loss));

// ## 6. Look at the loss curve
// metrics.csv has one row per step (step, lr, train_loss, val_loss, tokens_per_s, elapsed_s) and loss.png
// draws it: the train loss, the validation points and the n-gram baselines as dashed lines. Open the PNG.
Console.WriteLine($"metrics: {result.MetricsPath}");
Console.WriteLine($"loss curve: {result.LossCurvePath ?? "(not drawn; see the warning above)"}");

// ## 7. Save the model for the engine
// One .bitt file holds the config, the tokenizer and the weights. Generation and evaluation (samples 02 and
// 04) load it with the managed CPU engine, which does not need libtorch at all.
string model = Path.Combine(output, "model.bitt");
ModelPackage.WriteBitt(model, result.Config, tokenizerJson, result.Weights);
Console.WriteLine($"model: {model} ({new FileInfo(model).Length / 1024.0:F0} KB)");
// Training never fails because of the plot (a warning says why it was not drawn); this sample does, so that
// CI notices when loss.png stops being drawn.
if (result.LossCurvePath is null)
{
    Console.Error.WriteLine("01-train: the model is saved, but loss.png was not drawn (see the warning above)");
    return 1;
}
return 0;

// Prints ten progress lines and every validation loss.
sealed class ProgressLines(int totalSteps) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress p)
    {
        if (p.Step % Math.Max(1, totalSteps / 10) != 0 && p.ValidationLoss is null) return;
        string validation = p.ValidationLoss is { } v ? string.Create(CultureInfo.InvariantCulture, $"  validation {v:0.000}") : "";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  step {p.Step}/{p.TotalSteps}  loss {p.Loss:0.000}{validation}  {p.TokensPerSecond:0} tokens/s"));
    }
}
