using BitTtt.Evaluation;
using ScottPlot;

namespace BitTtt.Training;

/// <summary>One point of a loss curve: the optimizer step and the loss there (nats/token).</summary>
public readonly record struct LossPoint(int Step, double Loss);

/// <summary>
/// Draws <c>loss.png</c> with ScottPlot: the train loss per step as a line, the validation losses as points,
/// and the n-gram baselines of the split as labelled dashed horizontal lines, the figures a model must beat
/// (docs/training.md, "Loss curve"). The x axis is the step, linear or log10.
/// </summary>
public static class LossCurve
{
    public const string FileName = "loss.png";
    public const int DefaultWidth = 900, DefaultHeight = 540;

    /// <summary>
    /// More train points than this are drawn as the means of consecutive buckets of steps: a million-step run
    /// stays a fast, readable image, and the mean of a bucket smooths the per-step noise.
    /// </summary>
    public const int MaxLinePoints = 2000;

    static readonly Color TrainColor = new(31, 119, 180), ValidationColor = new(214, 39, 40);
    static readonly (string Name, Color Color)[] BaselineStyles =
        [("unigram", new(127, 127, 127)), ("KN bigram", new(44, 160, 44)), ("KN trigram", new(148, 103, 189))];

    /// <summary>The PNG bytes of the curve. Steps must be ≥ 1 (the trainer's are); non-finite losses are skipped.</summary>
    public static byte[] Render(IReadOnlyList<LossPoint> train, IReadOnlyList<LossPoint> validation, BaselineLosses? baselines,
        bool logX = false, int width = DefaultWidth, int height = DefaultHeight)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        if (width < 100 || height < 100) throw new ArgumentException($"loss curve size must be at least 100 × 100 pixels, got {width} × {height}");
        double X(double step) => logX ? Math.Log10(Math.Max(step, 1)) : step;

        var plot = new Plot();
        var (lineSteps, lineLosses, bucket) = Bucketed(train);
        if (lineSteps.Length > 0)
        {
            var line = plot.Add.ScatterLine(lineSteps.Select(X).ToArray(), lineLosses);
            line.Color = TrainColor;
            line.LineWidth = 1.5f;
            line.LegendText = bucket > 1 ? $"train loss (mean of {bucket} steps)" : "train loss";
        }
        var valid = validation.Where(p => double.IsFinite(p.Loss)).ToArray();
        if (valid.Length > 0)
        {
            var points = plot.Add.ScatterPoints(valid.Select(p => X(p.Step)).ToArray(), valid.Select(p => p.Loss).ToArray());
            points.Color = ValidationColor;
            points.MarkerSize = 8;
            points.LegendText = $"validation loss (last {valid[^1].Loss:0.000})";
        }
        var levels = new List<double>(lineLosses);
        levels.AddRange(valid.Select(p => p.Loss));
        if (baselines is not null)
        {
            double[] values = [baselines.Unigram, baselines.Bigram, baselines.Trigram];
            for (int i = 0; i < values.Length; i++)
            {
                if (!double.IsFinite(values[i])) continue;
                var h = plot.Add.HorizontalLine(values[i]);
                h.Color = BaselineStyles[i].Color;
                h.LineWidth = 1.5f;
                h.LinePattern = LinePattern.Dashed;
                h.LegendText = $"{BaselineStyles[i].Name} baseline {values[i]:0.000}";
                levels.Add(values[i]);
            }
        }
        Layout(plot, levels, logX, lineSteps.Length > 0 ? lineSteps[^1] : valid.Length > 0 ? valid[^1].Step : 1);
        return plot.GetImageBytes(width, height, ImageFormat.Png);
    }

    /// <summary>Renders and writes <paramref name="path"/> atomically (temporary file + rename).</summary>
    public static void Write(string path, IReadOnlyList<LossPoint> train, IReadOnlyList<LossPoint> validation, BaselineLosses? baselines, bool logX = false)
    {
        byte[] png = Render(train, validation, baselines, logX);
        AtomicFile.WriteAllBytes(path, png);
    }

    static void Layout(Plot plot, List<double> levels, bool logX, double lastStep)
    {
        plot.Title("BitLlama training loss");
        plot.XLabel(logX ? "step (log scale)" : "step");
        plot.YLabel("cross-entropy (nats/token)");
        if (logX)
        {
            // ScottPlot draws log axes as log10 of the data with log-spaced minor ticks and 10^x labels.
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
            {
                MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
                IntegerTicksOnly = true,
                LabelFormatter = x => Math.Pow(10, x).ToString("N0", System.Globalization.CultureInfo.InvariantCulture),
            };
            plot.Axes.SetLimitsX(0, Math.Max(1, Math.Log10(Math.Max(lastStep, 1)) * 1.02));
        }
        else plot.Axes.SetLimitsX(0, Math.Max(lastStep, 1) * 1.02);
        // Horizontal lines do not take part in autoscaling: fit y to every value drawn, baselines included.
        var finite = levels.Where(double.IsFinite).ToArray();
        if (finite.Length > 0)
        {
            double lo = finite.Min(), hi = finite.Max(), pad = Math.Max((hi - lo) * 0.05, 0.05);
            plot.Axes.SetLimitsY(Math.Max(0, lo - pad), hi + pad);
        }
        plot.ShowLegend(Edge.Right);   // outside the data area: the legend never hides the end of the curve
    }

    /// <summary>The train line's steps and losses: every finite point, or bucket means when there are more than <see cref="MaxLinePoints"/>.</summary>
    static (double[] Steps, double[] Losses, int Bucket) Bucketed(IReadOnlyList<LossPoint> train)
    {
        var finite = train.Where(p => double.IsFinite(p.Loss)).ToArray();
        int bucket = Math.Max(1, (finite.Length + MaxLinePoints - 1) / MaxLinePoints);
        int count = (finite.Length + bucket - 1) / bucket;
        var steps = new double[count];
        var losses = new double[count];
        for (int b = 0; b < count; b++)
        {
            int first = b * bucket, n = Math.Min(bucket, finite.Length - first);
            double sum = 0;
            for (int i = first; i < first + n; i++) sum += finite[i].Loss;
            (steps[b], losses[b]) = (finite[first + n - 1].Step, sum / n);
        }
        return (steps, losses, bucket);
    }
}
