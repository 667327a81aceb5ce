using BitTtt.Tests.Shared;

namespace BitTtt.Training.Tests;

/// <summary>
/// The time-budget rule of <see cref="TimeBudgetPlanner"/>: the planner is given each shape's step time (here a fixed
/// table standing for a machine, so the rule's choices can be checked exactly), and once with a real measurement.
/// </summary>
[TestClass]
public sealed class TimeBudgetPlannerTests
{
    // A machine where the step time grows with the body size: 0.05 s for D=64x2 up to ~20 s for D=512x12.
    static double Seconds(TrainingOptions o, int vocab) => 0.05 * TimeBudgetPlanner.BodyParameters(o.ToConfig(vocab)) / 131_584.0;

    static TrainingOptions Options() => new() { ContextLen = 64, Threads = 1 };

    [TestMethod]
    public void ALargeCorpusAndBudgetGetTheLargestShapeThatSeesTwentyTokensPerParameter()
    {
        var plan = TimeBudgetPlanner.Plan(Options(), 4096, trainTokens: 500_000_000, TimeSpan.FromHours(2), secondsPerStep: Seconds);
        long tokens = (long)plan.MaxSteps * plan.BatchSize * 64;
        Assert.IsGreaterThanOrEqualTo(TimeBudgetPlanner.TokensPerParameter, (double)tokens / plan.BodyParameters, string.Join("\n", plan.Trials));
        var next = TimeBudgetPlanner.Shapes.SkipWhile(s => s.HiddenDim != plan.HiddenDim).Skip(1).FirstOrDefault();
        Assert.IsNotNull(next, "the largest shape was chosen: the test's budget is too large to check the rule");
        var larger = Options();
        larger.HiddenDim = next.HiddenDim;
        larger.NumLayers = next.NumLayers;
        larger.BatchSize = next.BatchSize;
        double largerTokens = 2 * 3600 * (1 - TimeBudgetPlanner.Overhead) / Seconds(larger, 4096) * next.BatchSize * 64;
        Assert.IsLessThan(TimeBudgetPlanner.TokensPerParameter, largerTokens / TimeBudgetPlanner.BodyParameters(larger.ToConfig(4096)), "the next shape also fits");
        Assert.AreEqual(plan.HiddenDim, TimeBudgetPlanner.Shapes.Single(s => s.HiddenDim == plan.HiddenDim).HiddenDim);
        Assert.IsLessThanOrEqualTo(2 * 3600 * (1 - TimeBudgetPlanner.Overhead), plan.MaxSteps * plan.SecondsPerStep);
    }

    [TestMethod]
    public void ASmallCorpusGetsAtMostSixteenPassesAndASmallModel()
    {
        // 130 k tokens (a 400 KB text) and an hour: the smallest shape would make hundreds of passes; the plan stops at 16.
        var plan = TimeBudgetPlanner.Plan(Options(), 1024, trainTokens: 130_000, TimeSpan.FromHours(1), secondsPerStep: Seconds);
        Assert.AreEqual(64, plan.HiddenDim, string.Join("\n", plan.Trials));
        Assert.IsLessThanOrEqualTo(TimeBudgetPlanner.MaxEpochs + 1e-9, plan.Epochs);
        Assert.AreEqual((int)(TimeBudgetPlanner.MaxEpochs * 130_000 / (plan.BatchSize * 64)), plan.MaxSteps);
    }

    [TestMethod]
    public void ATinyBudgetFallsBackToTheSmallestShapeWithTheStepsItAffords()
    {
        var plan = TimeBudgetPlanner.Plan(Options(), 1024, trainTokens: 10_000_000, TimeSpan.FromSeconds(5), secondsPerStep: Seconds);
        Assert.AreEqual(TimeBudgetPlanner.Shapes[0].HiddenDim, plan.HiddenDim);
        Assert.IsLessThan(TimeBudgetPlanner.MinSteps, plan.MaxSteps);
        Assert.IsGreaterThan(0, plan.MaxSteps);
        StringAssert.Contains(plan.Trials[0], "fallback");
    }

    [TestMethod]
    public void OptionsTheUserFixedAreKept()
    {
        var options = Options();
        options.HiddenDim = 96;
        options.LearningRate = 0.01;
        options.MaxSteps = 123;
        var plan = TimeBudgetPlanner.Plan(options, 1024, trainTokens: 50_000_000, TimeSpan.FromMinutes(30),
            fixedOptions: new HashSet<string> { nameof(TrainingOptions.HiddenDim), nameof(TrainingOptions.LearningRate), nameof(TrainingOptions.MaxSteps) },
            secondsPerStep: Seconds);
        Assert.AreEqual(96, plan.HiddenDim);
        Assert.AreEqual(0.01, plan.LearningRate);
        Assert.AreEqual(123, plan.MaxSteps);
    }

    [TestMethod]
    public void ARealMeasurementPlansARunThatTrains()
    {
        string dir = TokenFileTests.TempDir();
        using var train = TokenFile.Open(TrainerTests.Corpus(dir, 3000));
        var options = TinyTrainer.Options(null, steps: 1);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double seconds = BitLlamaTrainer.MeasureSecondsPerStep(options, 29);
        Assert.IsTrue(double.IsFinite(seconds) && seconds > 0 && seconds < clock.Elapsed.TotalSeconds, $"{seconds} s per step");
        var plan = TimeBudgetPlanner.Plan(options, 29, train.Count, TimeSpan.FromSeconds(3));
        TimeBudgetPlanner.Apply(options, plan);
        var result = new BitLlamaTrainer(options, 29).Train(train, null);
        Assert.AreEqual(plan.MaxSteps, result.Step);
        Directory.Delete(dir, recursive: true);
    }

    [TestMethod]
    [DataRow("10m", 600.0)]
    [DataRow("90s", 90.0)]
    [DataRow("1h30m", 5400.0)]
    [DataRow("2.5m", 150.0)]
    [DataRow("00:10:00", 600.0)]
    public void BudgetsParse(string text, double seconds) => Assert.AreEqual(TimeSpan.FromSeconds(seconds), TimeBudgetPlanner.TryParse(text));

    [TestMethod]
    [DataRow("10")]
    [DataRow("m")]
    [DataRow("10x")]
    [DataRow("-5m")]
    [DataRow("0s")]
    [DataRow("")]
    public void BadBudgetsDoNotParse(string text) => Assert.IsNull(TimeBudgetPlanner.TryParse(text));

    [TestMethod]
    public void BudgetsFormatAsTheFlagSpellsThem()
    {
        Assert.AreEqual("10m", TimeBudgetPlanner.Format(TimeSpan.FromMinutes(10)));
        Assert.AreEqual("1h30m", TimeBudgetPlanner.Format(TimeSpan.FromMinutes(90)));
        Assert.AreEqual("45s", TimeBudgetPlanner.Format(TimeSpan.FromSeconds(45)));
    }
}
