using System.Diagnostics;
using BitTtt.MLNet;
using Microsoft.ML;

namespace BitTtt.Benchmarks.TextColumns;

/// <summary>The BitLlama the columns come from: loaded with --model, else trained here on the training paragraphs only.</summary>
internal static class LanguageModel
{
    public static BitLlamaTransformer Get(MLContext ml, Settings settings, IDataView train)
    {
        if (settings.ModelPath is { } path && File.Exists(path))
        {
            Console.WriteLine($"model: {path} (--model)");
            return ml.Model.LoadBitt(path);
        }
        var options = new BitLlamaOptions
        {
            HiddenDim = settings.HiddenDim, NumLayers = settings.NumLayers, ContextLen = settings.ContextLen, BatchSize = 16,
            MaxSteps = settings.Steps, WarmupSteps = Math.Min(100, settings.Steps / 10), LearningRate = 2e-3, EvalInterval = Math.Max(1, settings.Steps / 5),
            Seed = 1, Threads = settings.TrainThreads,
        };
        var clock = Stopwatch.StartNew();
        var fitted = ml.Transforms.TokenizeForBitLlama(vocabSize: settings.VocabSize).Append(ml.Transforms.BitLlama(options)).Fit(train);
        var model = fitted.LastTransformer;
        var summary = model.Training!;
        Console.WriteLine($"trained in {clock.Elapsed.TotalSeconds:F0} s ({summary.Steps} steps on {summary.TrainTokens:N0} tokens): validation {summary.ValidationLoss:F3} nats/token" +
            (summary.Baselines is { } b ? $", baselines {b}" : ""));
        string save = settings.SavePath ?? Path.Combine(Path.GetTempPath(), "text-columns.bitt");
        ml.Model.SaveAsBitt(model, save);
        Console.WriteLine($"saved {save} (reuse it with --model {save})");
        return model;
    }
}
