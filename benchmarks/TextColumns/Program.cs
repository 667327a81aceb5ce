using System.Diagnostics;
using System.Globalization;
using BitTtt.Benchmarks.TextColumns;
using BitTtt.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

// BitLlama as an ML.NET component for ordinary learners, measured side by side in one run (docs/mlnet.md):
//   1. a language model trained on the training paragraphs of data/moby-dick.txt (or --model), and its evaluation;
//   2. classifying held-out paragraphs by the part of the book: FeaturizeText vs BitLlamaFeaturize vs both, each
//      with the same trainer (SdcaMaximumEntropy);
//   3. out-of-domain detection with BitLlamaScore (AUC) against a unigram score, on docs prose and on shuffled words;
//   4. BitLlamaFeaturize rows/s on one thread and on all cores, values compared.
//
//   dotnet run -c Release --project benchmarks/TextColumns [-- --steps 1500 --dim 64 --layers 2 --vocab 1024 --model PATH --save PATH]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var settings = Settings.Parse(args);
string root = Settings.FindRoot();
var ml = new MLContext(seed: 1);
var data = Dataset.Load(root, seed: 1);
Console.WriteLine($"paragraphs: {data.Train.Count} train, {data.Test.Count} test (parts I-IV: test {string.Join(" / ", data.Test.GroupBy(p => p.Label).OrderBy(g => g.Key).Select(g => g.Count()))}); " +
    $"out of domain: {data.Docs.Count} docs paragraphs, {data.Shuffled.Count} shuffled");
var trainView = ml.Data.LoadFromEnumerable(data.Train);
var testView = ml.Data.LoadFromEnumerable(data.Test);

// 1. The language model
using var model = LanguageModel.Get(ml, settings, trainView);
Console.WriteLine($"model: D={model.Config.HiddenDim}, layers={model.Config.NumLayers}, vocabulary={model.Tokenizer.VocabSize}, {model.Config.TttType} TTT");
var eval = ml.Model.EvaluateBitLlama(model, testView, trainingData: trainView);
Console.WriteLine($"held-out paragraphs: {eval}");

// 2. Classification by part of the book
Console.WriteLine();
Console.WriteLine($"classification (4 parts, SdcaMaximumEntropy, majority class {data.Test.GroupBy(p => p.Label).Max(g => g.Count()) / (double)data.Test.Count:P1}):");
Console.WriteLine($"{"features",-40} {"micro-acc",10} {"macro-acc",10} {"log-loss",9} {"fit+test s",11}");
var label = ml.Transforms.Conversion.MapValueToKey("Label");
// One thread: SDCA's result then does not depend on thread timing, and the figures repeat.
IEstimator<ITransformer> Sdca() => ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(
    new Microsoft.ML.Trainers.SdcaMaximumEntropyMulticlassTrainer.Options { LabelColumnName = "Label", FeatureColumnName = "Features", NumberOfThreads = 1 });
Classify("FeaturizeText (word 1-2 + char 3-grams)", label.Append(ml.Transforms.Text.FeaturizeText("Features", "Text")).AppendCacheCheckpoint(ml).Append(Sdca()));
// The cache right after the BitLlama columns: the normalizer's Fit and the trainer then read them without computing them again.
Classify($"BitLlamaFeaturize ({2 * model.Config.HiddenDim} values)", label.Append(ml.Transforms.BitLlamaFeaturize(model)).AppendCacheCheckpoint(ml)
    .Append(ml.Transforms.NormalizeMeanVariance("Features")).Append(Sdca()));
Classify("both, concatenated", label.Append(ml.Transforms.Text.FeaturizeText("TextFeatures", "Text"))
    .Append(ml.Transforms.BitLlamaFeaturize(model, "LlamaFeatures")).AppendCacheCheckpoint(ml).Append(ml.Transforms.NormalizeMeanVariance("LlamaFeatures"))
    .Append(ml.Transforms.Concatenate("Features", "TextFeatures", "LlamaFeatures")).Append(Sdca()));

void Classify(string name, IEstimator<ITransformer> pipeline)
{
    var clock = Stopwatch.StartNew();
    var fitted = pipeline.Fit(trainView);
    var m = ml.MulticlassClassification.Evaluate(fitted.Transform(testView));
    Console.WriteLine($"{name,-40} {m.MicroAccuracy,10:P1} {m.MacroAccuracy,10:P1} {m.LogLoss,9:F3} {clock.Elapsed.TotalSeconds,11:F1}");
}

// 3. Out-of-domain detection
Console.WriteLine();
float[] Scores(IEnumerable<string> texts) =>
    ml.Transforms.BitLlamaScore(model).Fit(testView).Transform(ml.Data.LoadFromEnumerable(texts.Select(t => new TextRow { Text = t })))
        .GetColumn<float>("Score").ToArray();
var unigram = new UnigramScore(model.Tokenizer, data.Train.Select(p => p.Text));
float[] inDomain = Scores(data.Test.Select(p => p.Text));
Console.WriteLine($"out-of-domain detection, AUC (in-domain: {data.Test.Count} held-out paragraphs, mean score {inDomain.Average():F3} nats/token):");
Console.WriteLine($"{"out of domain",-40} {"BitLlamaScore",14} {"unigram score",14} {"its mean score",15}");
foreach (var (name, texts) in new[] { ("docs prose", data.Docs), ("shuffled words", data.Shuffled) })
{
    float[] outside = Scores(texts);
    double auc = Auc(ml, inDomain, outside);
    double unigramAuc = Auc(ml, data.Test.Select(p => unigram.Score(p.Text)).ToArray(), texts.Select(unigram.Score).ToArray());
    Console.WriteLine($"{name,-40} {auc,14:F3} {unigramAuc,14:F3} {outside.Average(),15:F3}");
}

// 4. Featurize throughput
Console.WriteLine();
var rowsView = ml.Data.LoadFromEnumerable(data.Test.Select(p => new TextRow { Text = p.Text }));
var (one, oneRate) = Featurize(1);
var (all, allRate) = Featurize(Environment.ProcessorCount);
bool same = one.Zip(all).All(p => p.First.SequenceEqual(p.Second));
Console.WriteLine($"BitLlamaFeaturize: {oneRate:F0} rows/s on 1 thread, {allRate:F0} rows/s on {Environment.ProcessorCount} ({allRate / oneRate:F2}x); values identical: {same}");

(float[][] Values, double RowsPerSecond) Featurize(int threads)
{
    var t = ml.Transforms.BitLlamaFeaturize(model, new BitLlamaFeaturizeOptions { Threads = threads }).Fit(rowsView);
    var clock = Stopwatch.StartNew();
    var values = t.Transform(rowsView).GetColumn<float[]>("Features").ToArray();
    return (values, values.Length / clock.Elapsed.TotalSeconds);
}

static double Auc(MLContext ml, float[] inDomain, float[] outside)
{
    var rows = inDomain.Select(s => new Scored { Label = true, Score = s }).Concat(outside.Select(s => new Scored { Label = false, Score = s }));
    return ml.BinaryClassification.EvaluateNonCalibrated(ml.Data.LoadFromEnumerable(rows)).AreaUnderRocCurve;
}
