using BitTtt.Inference;
using BitTtt.MLNet;
using Microsoft.ML;

namespace BitTtt.MLNet.Tests;

/// <summary>
/// mlContext.Model.EvaluateBitLlama gives the figures <c>bit-llama eval</c> prints for the same text: both run
/// ModelEvaluator, and a line-per-row column reads back as the file it was loaded from.
/// </summary>
[TestClass]
public sealed class EvaluateTests
{
    [TestMethod]
    public void EvaluateOnAColumn_EqualsEvaluatingItsFile_BaselinesIncluded()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(TinyModels.WriteSeeded());
        string held = TinyCorpus.NewPath("held.txt");
        File.WriteAllText(held, "Call me Ishmael.\tSome years ago\n\n\"never mind how long\"\n// precisely\n" + File.ReadAllText(TinyCorpus.ValidationPath) + "\n");
        string train = TinyCorpus.NewPath("train.txt");
        File.WriteAllText(train, File.ReadAllText(TinyCorpus.TextPath) + "\n");   // a file of whole lines ends with a newline
        var options = new EvaluationOptions { MaxTokens = 600, CopyPassageTokens = 24 };

        var metrics = ml.Model.EvaluateBitLlama(model, ml.Data.LoadTextLines(held), trainingData: ml.Data.LoadTextLines(train), options: options);
        var file = ModelEvaluator.EvaluateFile(model.Model, held, train, options);

        Assert.AreEqual(file.NatsPerToken, metrics.NatsPerToken);
        Assert.AreEqual(file.BitsPerByte, metrics.BitsPerByte);
        Assert.AreEqual(file.Perplexity, metrics.Perplexity);
        Assert.AreEqual(file.TextTokens, metrics.TokenCount);
        Assert.AreEqual(file.Truncated, metrics.Truncated);
        Assert.AreEqual(file.Copy, metrics.Copy);
        Assert.IsNotNull(metrics.Baselines);
        Assert.AreEqual(file.Baselines, metrics.Baselines);
        Assert.AreEqual(file.BaselineTrainTokens, metrics.BaselineTrainTokens);
        Assert.AreEqual(File.ReadAllLines(held).Length, metrics.Rows);
        StringAssert.Contains(metrics.ToString(), "nats/token");
        StringAssert.Contains(metrics.ToString(), "KN-trigram");
    }

    [TestMethod]
    public void WithoutTrainingData_ThereAreNoBaselines_AndBadColumnsAreNamed()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(TinyModels.WriteSeeded());
        var metrics = ml.Model.EvaluateBitLlama(model, ml.Data.LoadTextLines(TinyCorpus.ValidationPath));
        Assert.IsNull(metrics.Baselines);
        Assert.IsGreaterThan(0, metrics.NatsPerToken);

        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Model.EvaluateBitLlama(model, ml.Data.LoadTextLines(TinyCorpus.ValidationPath, "Body")));
        StringAssert.Contains(e.Message, "Could not find input column 'Text'");
        Assert.AreEqual("data", e.ParamName);
        var few = Assert.ThrowsExactly<ArgumentException>(() => ml.Model.EvaluateBitLlama(model, ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "w" } })));
        StringAssert.Contains(few.Message, "column 'Text'");
    }
}
