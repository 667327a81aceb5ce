#!/usr/bin/env dotnet
// # 04 · How good is the model? Loss, bits per byte, n-gram baselines and the copy score
//
//     dotnet run samples/notebooks/04-evaluation.cs              # the model and corpus of 01-train.cs
//     dotnet run samples/notebooks/04-evaluation.cs -- --tiny    # score fewer tokens (what CI runs)
//     dotnet run samples/notebooks/04-evaluation.cs -- --output DIR # the folder 01 wrote to
//
// Evaluation runs on the managed engine, like generation: this file references BitTtt.Inference only. If
// 01-train.cs has not run yet, this sample runs it with --tiny first (a child `dotnet run`).
//
// The same figures come from `bit-llama eval MODEL --data HELD_OUT.txt --train-data TRAIN.txt`.
#:project ../../src/BitTtt.Inference/BitTtt.Inference.csproj
#:property PublishAot=false

using System.Diagnostics;
using System.Reflection;
using System.Globalization;
using System.Text;
using BitTtt.Inference;

// ## 1. The model and the text it was trained on
string here = (string)AppContext.GetData("EntryPointFileDirectoryPath")!;
bool tiny = args.Contains("--tiny") || Environment.GetEnvironmentVariable("BITLLAMA_SAMPLES_TINY") == "1";
int outAt = Array.IndexOf(args, "--output");
string output = Path.GetFullPath(outAt >= 0 && outAt + 1 < args.Length ? args[outAt + 1] : Path.Combine(here, "output"));
string modelPath = Path.Combine(output, "model.bitt"), corpusPath = Path.Combine(output, "corpus.txt");
if (!File.Exists(modelPath) || !File.Exists(corpusPath))
{
    Console.WriteLine($"{modelPath} or its corpus.txt is missing: training a tiny model with 01-train.cs --tiny first");
    // The same configuration as this run (`dotnet run -c Release ...` in CI), so a build already made is reused.
    string configuration = Assembly.GetEntryAssembly()?
        .GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
    using var child = Process.Start("dotnet", ["run", "-c", configuration, Path.Combine(here, "01-train.cs"), "--", "--tiny", "--output", output]);
    child.WaitForExit();
    if (child.ExitCode != 0) throw new InvalidOperationException($"01-train.cs failed with exit code {child.ExitCode}");
}
using var llama = Llama.LoadAuto(modelPath);

// ## 2. Held-out text
// 01 trained on corpus.txt minus its last 5% (by bytes, from a line boundary): that tail is text the model
// never saw. Splitting the same way here gives the held-out text and the training text back.
string corpus = File.ReadAllText(corpusPath);
var (trainText, heldOut) = SplitLikeTraining(corpus, 0.05);
Console.WriteLine($"held out: {Encoding.UTF8.GetByteCount(heldOut):N0} bytes; training text: {Encoding.UTF8.GetByteCount(trainText):N0} bytes");

// ## 3. Evaluate
// The held-out text streams through one session, token after token: a TTT model's state does not grow, so
// nothing is cut into windows and every token is scored after everything before it.
//  - nats/token: mean −ln p(next token). Only comparable between models with the same tokenizer.
//  - bits/byte: the same total loss in bits, divided by the UTF-8 bytes. Comparable across tokenizers.
//  - baselines: unigram, Kneser-Ney bigram and trigram models counted on the training text, scoring the same
//    tokens. A model that does not beat them has learned less than counting.
//  - copy score: a passage fed twice in one session; loss on the second copy ÷ loss on the first. Near 1 the
//    model ignores what it has just read, toward 0 its TTT memory recalls the passage.
var evaluation = new EvaluationOptions { MaxTokens = tiny ? 1500 : 20_000, CopyPassageTokens = tiny ? 32 : 0 };
var r = ModelEvaluator.Evaluate(llama, heldOut, trainText, evaluation, "held-out text");
var inv = CultureInfo.InvariantCulture;
Console.WriteLine(string.Create(inv, $"scored {r.ScoredTokens:N0} tokens ({r.ScoredBytes:N0} bytes){(r.Truncated ? " (the first ones only)" : "")}"));
Console.WriteLine(string.Create(inv, $"loss {r.NatsPerToken:0.000} nats/token, {r.BitsPerByte:0.000} bits/byte, perplexity {r.Perplexity:0.0}"));
if (r.Baselines is { } b)
{
    Console.WriteLine(string.Create(inv, $"baselines (counted on {r.BaselineTrainTokens:N0} training tokens): {b}"));
    Console.WriteLine(b.Verdict(r.NatsPerToken, "model"));
}
Console.WriteLine(string.Create(inv,
    $"copy score {r.Copy.Ratio:0.000}: {r.Copy.PassageTokens}-token passage, {r.Copy.FirstCopyLoss:0.000} nats on the first copy, {r.Copy.SecondCopyLoss:0.000} on the second"));

// ## 4. Which tokens are hard?
// TokenLosses gives −ln p for every token after the first: the raw material of the averages above.
int[] ids = llama.Tokenizer.Encode("Call me Ishmael. Some years ago, never mind how long precisely");
double[] losses = ModelEvaluator.TokenLosses(llama, ids);
var pieces = ids.Skip(1).Select((id, i) => (Text: llama.Tokenizer.Decode([id]), Loss: losses[i])).ToArray();
Console.WriteLine("per-token loss: " + string.Join(" ", pieces.Select(p => string.Create(inv, $"[{p.Text}]{p.Loss:0.0}"))));
Console.WriteLine($"hardest: \"{pieces.MaxBy(p => p.Loss).Text}\", easiest: \"{pieces.MinBy(p => p.Loss).Text}\"");
return 0;

// The split of TokenCorpus.Encode: the held-out part starts at the first line that begins at or after
// (1 − fraction) of the bytes.
static (string Train, string HeldOut) SplitLikeTraining(string text, double fraction)
{
    long splitAt = (long)(Encoding.UTF8.GetByteCount(text) * (1 - fraction)), bytes = 0;
    int lineStart = 0;
    while (lineStart < text.Length && bytes < splitAt)
    {
        int end = text.IndexOf('\n', lineStart);
        end = end < 0 ? text.Length : end + 1;
        bytes += Encoding.UTF8.GetByteCount(text.AsSpan(lineStart, end - lineStart));
        lineStart = end;
    }
    return (text[..lineStart], text[lineStart..]);
}
