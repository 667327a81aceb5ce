#!/usr/bin/env dotnet
// # 05 · A BitLlama for ordinary ML.NET learners: score and feature columns, Evaluate, whole lines
//
//     dotnet run samples/notebooks/05-mlnet-columns.cs              # the model and corpus of 01-train.cs
//     dotnet run samples/notebooks/05-mlnet-columns.cs -- --tiny    # fewer paragraphs (what CI runs)
//     dotnet run samples/notebooks/05-mlnet-columns.cs -- --output DIR # the folder 01 wrote to
//
// A trained component in ML.NET usually feeds others. BitLlamaScore adds each row's log-likelihood per token (an
// out-of-domain or anomaly score), BitLlamaFeaturize a fixed-length vector for any trainer, and EvaluateBitLlama
// gives the figures of `bit-llama eval`. All of it is predict-only: this file references BitTtt.MLNet, no TorchSharp.
// If 01-train.cs has not run yet, this sample runs it with --tiny first (a child `dotnet run`).
// benchmarks/TextColumns measures the same on a larger model (docs/mlnet.md).
#:project ../../src/BitTtt.MLNet/BitTtt.MLNet.csproj
#:property PublishAot=false

using System.Diagnostics;
using System.Reflection;
using BitTtt.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

// ## 1. The model and its text
string here = (string)AppContext.GetData("EntryPointFileDirectoryPath")!;
bool tiny = args.Contains("--tiny") || Environment.GetEnvironmentVariable("BITLLAMA_SAMPLES_TINY") == "1";
int outAt = Array.IndexOf(args, "--output");
string output = Path.GetFullPath(outAt >= 0 && outAt + 1 < args.Length ? args[outAt + 1] : Path.Combine(here, "output"));
string modelPath = Path.Combine(output, "model.bitt"), corpusPath = Path.Combine(output, "corpus.txt");
if (!File.Exists(modelPath) || !File.Exists(corpusPath))
{
    Console.WriteLine($"{modelPath} or its corpus.txt is missing: training a tiny model with 01-train.cs --tiny first");
    string configuration = Assembly.GetEntryAssembly()?.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
    using var child = Process.Start("dotnet", ["run", "-c", configuration, Path.Combine(here, "01-train.cs"), "--", "--tiny", "--output", output]);
    child.WaitForExit();
    if (child.ExitCode != 0) throw new InvalidOperationException($"01-train.cs failed with exit code {child.ExitCode}");
}
var ml = new MLContext(seed: 1);
using var model = ml.Model.LoadBitt(modelPath);

// ## 2. Load text whole
// LoadTextLines gives one row per line, as it is. LoadFromTextFile<TextRow> is a column parser: it cuts a line at
// its first tab and skips empty lines and lines starting with //. Exported business data is full of tabs.
string export = Path.Combine(output, "export.tsv");
File.WriteAllLines(export, ["Order 123\tshipped to Contoso\tpaid", "", "// exported at noon", "The whale\tspouted"]);
Console.WriteLine("LoadFromTextFile<TextRow>: " + string.Join(" | ", ml.Data.LoadFromTextFile<TextRow>(export).GetColumn<string>("Text").Select(Show)));
Console.WriteLine("LoadTextLines:             " + string.Join(" | ", ml.Data.LoadTextLines(export).GetColumn<string>("Text").Select(Show)));
static string Show(string s) => $"\"{s.Replace("\t", "\\t")}\"";

// The paragraphs of corpus.txt (one per line); the last twentieth are held out, about the 5% of its bytes 01 held out.
var paragraphs = File.ReadLines(corpusPath).Where(l => l.Split(' ').Length >= 12).ToList();
int held = paragraphs.Count * 19 / 20;
var train = paragraphs[..held];
var test = paragraphs[held..];
if (tiny) train = train[^Math.Min(train.Count, 240)..];
IDataView Rows(IEnumerable<string> texts) => ml.Data.LoadFromEnumerable(texts.Select(t => new TextRow { Text = t }));

// ## 3. Evaluate
// The column is read as the lines of one text and scored by the code behind `bit-llama eval`; with training text, the
// n-gram baselines are counted on it.
var metrics = ml.Model.EvaluateBitLlama(model, Rows(test), trainingData: Rows(paragraphs[..held]));
Console.WriteLine($"held-out paragraphs: {metrics.NatsPerToken:F3} nats/token, {metrics.BitsPerByte:F3} bits/byte; {metrics.Baselines?.Verdict(metrics.NatsPerToken, "model")}");

// ## 4. A score for out-of-domain text
// Score = mean ln p(token | what came before) per row. Shuffling a paragraph's words keeps every word (a bag of words
// cannot see the difference) but breaks the order the model learned: its score drops.
var rng = new Random(1);
var shuffled = test.Select(t => string.Join(' ', t.Split(' ').OrderBy(_ => rng.Next()))).ToList();
var scorer = ml.Transforms.BitLlamaScore(model).Fit(Rows(test));
float[] inDomain = scorer.Transform(Rows(test)).GetColumn<float>("Score").ToArray();
float[] outside = scorer.Transform(Rows(shuffled)).GetColumn<float>("Score").ToArray();
var labelled = inDomain.Select(s => new Scored { Label = true, Score = s }).Concat(outside.Select(s => new Scored { Label = false, Score = s }));
double auc = ml.BinaryClassification.EvaluateNonCalibrated(ml.Data.LoadFromEnumerable(labelled)).AreaUnderRocCurve;
Console.WriteLine($"score: held-out paragraphs {inDomain.Average():F3}, the same words shuffled {outside.Average():F3} nats/token; AUC {auc:F3}");

// ## 5. Features for an ordinary trainer
// Which half of the training paragraphs does a paragraph come from? The same trainer on ML.NET's FeaturizeText and on
// BitLlamaFeaturize (the mean and the last of the model's final hidden states, 2·D values).
var halves = train.Select((t, i) => new Labelled { Text = t, Label = i < train.Count / 2 ? "early" : "late" }).ToList();
var trainView = ml.Data.LoadFromEnumerable(halves.Where((_, i) => i % 5 != 4));
var testView = ml.Data.LoadFromEnumerable(halves.Where((_, i) => i % 5 == 4));
var trainer = ml.Transforms.Conversion.MapValueToKey("Label");
foreach (var (name, features) in new (string, IEstimator<ITransformer>)[]
{
    ("FeaturizeText", ml.Transforms.Text.FeaturizeText("Features", "Text")),
    ($"BitLlamaFeaturize ({2 * model.Config.HiddenDim})", ml.Transforms.BitLlamaFeaturize(model).Append(ml.Transforms.NormalizeMeanVariance("Features"))),
})
{
    var pipeline = trainer.Append(features).AppendCacheCheckpoint(ml).Append(ml.MulticlassClassification.Trainers.SdcaMaximumEntropy());
    var m = ml.MulticlassClassification.Evaluate(pipeline.Fit(trainView).Transform(testView));
    Console.WriteLine($"{name,-26} accuracy {m.MicroAccuracy:P1} on {testView.GetColumn<string>("Label").Count()} held-out paragraphs");
}
return 0;

sealed class Scored
{
    public bool Label { get; set; }
    public float Score { get; set; }
    /// <summary>Required by ML.NET's binary evaluator; the AUC read here depends on the scores alone.</summary>
    public bool PredictedLabel { get; set; }
}

sealed class Labelled
{
    public string Text { get; set; } = "";
    public string Label { get; set; } = "";
}
