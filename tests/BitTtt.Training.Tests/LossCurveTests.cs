using BitTtt.Evaluation;
using SkiaSharp;

namespace BitTtt.Training.Tests;

[TestClass]
public sealed class LossCurveTests
{
    const int Vocab = 29;

    /// <summary>What a decoded PNG holds: its size, how many distinct colours, and how many pixels of a given colour.</summary>
    sealed record Picture(int Width, int Height, int DistinctColours, int NonWhite, Func<SKColor, int> Near);

    static Picture Decode(byte[] png)
    {
        Assert.IsTrue(png.Length > 8 && png[0] == 0x89 && png[1] == (byte)'P' && png[2] == (byte)'N' && png[3] == (byte)'G', "not a PNG signature");
        using var bitmap = SKBitmap.Decode(png);
        Assert.IsNotNull(bitmap, "SkiaSharp could not decode the PNG");
        var pixels = bitmap.Pixels;
        int nonWhite = pixels.Count(c => c.Red < 250 || c.Green < 250 || c.Blue < 250);
        int distinct = pixels.Select(c => (uint)c).Distinct().Count();
        int Near(SKColor want) => pixels.Count(c =>
            Math.Abs(c.Red - want.Red) <= 12 && Math.Abs(c.Green - want.Green) <= 12 && Math.Abs(c.Blue - want.Blue) <= 12);
        return new Picture(bitmap.Width, bitmap.Height, distinct, nonWhite, Near);
    }

    static void AssertNotBlank(Picture p)
    {
        Assert.IsTrue(p.DistinctColours >= 8, $"only {p.DistinctColours} distinct colours");
        // Axes, labels, curve and legend cover well over 1% of the image; a blank or background-only image covers 0%.
        Assert.IsTrue(p.NonWhite > p.Width * p.Height / 100, $"only {p.NonWhite} of {p.Width * p.Height} pixels are not background");
    }

    static readonly SKColor Train = new(31, 119, 180), Validation = new(214, 39, 40), Bigram = new(44, 160, 44), Trigram = new(148, 103, 189);

    [TestMethod]
    public void TrainingWritesLossPngWithTheCurveValidationPointsAndBaselines()
    {
        string dir = TokenFileTests.TempDir(), output = Path.Combine(dir, "run");
        using var train = TokenFile.Open(TrainerTests.Corpus(dir, 1500));
        using var validation = TokenFile.Open(TrainerTests.Corpus(dir, 200, "val.bin"));
        var options = TinyTrainer.Options(output, 12);
        options.EvalInterval = 4;
        var result = new BitLlamaTrainer(options, Vocab).Train(train, validation);

        string png = Path.Combine(output, LossCurve.FileName);
        Assert.AreEqual(Path.GetFullPath(png), result.LossCurvePath);
        Assert.AreEqual(Path.GetFullPath(Path.Combine(output, "metrics.csv")), result.MetricsPath);
        var picture = Decode(File.ReadAllBytes(png));
        Assert.AreEqual(LossCurve.DefaultWidth, picture.Width);
        Assert.AreEqual(LossCurve.DefaultHeight, picture.Height);
        AssertNotBlank(picture);
        Assert.IsTrue(picture.Near(Train) > 100, "the train-loss line is missing");
        Assert.IsTrue(picture.Near(Validation) > 3 * 30, "the three validation points are missing");   // 8-px markers
        Assert.IsTrue(picture.Near(Bigram) > 50 && picture.Near(Trigram) > 50, "a baseline line is missing");
        Assert.AreEqual(0, Directory.GetFiles(output, ".*").Length, "a temporary file was left behind");
    }

    [TestMethod]
    public void LogXAndBucketedLongRunsRender()
    {
        var rng = new Random(3);
        var train = Enumerable.Range(1, 5003).Select(s => new LossPoint(s, 3 + 4 / Math.Sqrt(s) + rng.NextDouble() * 0.3)).ToList();
        var validation = Enumerable.Range(1, 10).Select(i => new LossPoint(i * 500, 3 + 4 / Math.Sqrt(i * 500))).ToList();
        var baselines = new BaselineLosses(5.9, 4.2, 3.8);
        foreach (bool logX in new[] { false, true })
        {
            var picture = Decode(LossCurve.Render(train, validation, baselines, logX, 640, 400));
            Assert.AreEqual((640, 400), (picture.Width, picture.Height));
            AssertNotBlank(picture);
            Assert.IsTrue(picture.Near(Train) > 100 && picture.Near(Validation) > 100, $"logX={logX}: curve or points missing");
        }
        // Without baselines or validation (a run without validation data) there is still a curve.
        AssertNotBlank(Decode(LossCurve.Render(train.Take(7).ToList(), [], null)));
        Assert.ThrowsExactly<ArgumentException>(() => LossCurve.Render(train, validation, baselines, false, 50, 400));
    }

    [TestMethod]
    public void APlottingFailureWarnsOnceAndTrainingCompletes()
    {
        string dir = TokenFileTests.TempDir(), output = Path.Combine(dir, "run");
        Directory.CreateDirectory(Path.Combine(output, LossCurve.FileName));   // a directory where the PNG should go: every write fails
        using var train = TokenFile.Open(TrainerTests.Corpus(dir, 1500));
        using var validation = TokenFile.Open(TrainerTests.Corpus(dir, 200, "val.bin"));
        var options = TinyTrainer.Options(output, 6);
        options.EvalInterval = 2;
        var result = new BitLlamaTrainer(options, Vocab).Train(train, validation);
        Assert.IsTrue(result.Completed);
        Assert.IsNull(result.LossCurvePath);
        Assert.AreEqual(7, File.ReadAllLines(Path.Combine(output, "metrics.csv")).Length);
        Assert.IsTrue(File.Exists(result.CheckpointPath));

        // The warning: once, naming the file, however often the curve is redrawn.
        var warnings = new List<string>();
        using (var metrics = TrainingMetrics.Open(output, 6))
        {
            for (int i = 0; i < 3; i++) metrics.WriteLossCurve(null, logX: false, warnings.Add);
            Assert.IsFalse(metrics.LossCurveWritten);
        }
        Assert.AreEqual(1, warnings.Count);
        StringAssert.Contains(warnings[0], Path.Combine(output, LossCurve.FileName));
        StringAssert.Contains(warnings[0], "training continues");
    }

    [TestMethod]
    public void ResumedRunsDrawTheRowsOfEarlierInvocations()
    {
        string dir = TokenFileTests.TempDir(), output = Path.Combine(dir, "run");
        using var train = TokenFile.Open(TrainerTests.Corpus(dir, 1500));
        var first = TinyTrainer.Options(output, 10);
        first.StopAfterSteps = 5;
        new BitLlamaTrainer(first, Vocab).Train(train, null);
        File.Delete(Path.Combine(output, LossCurve.FileName));   // drawn at the end of the first invocation
        using (var metrics = TrainingMetrics.Open(output, 5))
        {
            var warnings = new List<string>();
            metrics.WriteLossCurve(null, logX: false, warnings.Add);
            Assert.AreEqual(0, warnings.Count, string.Join("\n", warnings));
        }
        // The reopened metrics kept steps 1..5 and drew them: the train line is there before any new step.
        var picture = Decode(File.ReadAllBytes(Path.Combine(output, LossCurve.FileName)));
        Assert.IsTrue(picture.Near(Train) > 100, "the kept rows were not drawn");
    }
}
