using System.Diagnostics;
using System.Globalization;

namespace BitTtt.Training;

/// <summary>
/// What <see cref="TimeBudgetPlanner.Plan"/> chose for a run: the shape, batch, learning rate and steps that fit a wall-clock
/// budget on this machine, and why.
/// </summary>
public sealed record TrainingPlan
{
    public required int HiddenDim { get; init; }
    public required int NumLayers { get; init; }
    public required int BatchSize { get; init; }
    public required double LearningRate { get; init; }
    public required int WarmupSteps { get; init; }
    public required int MaxSteps { get; init; }
    /// <summary>The measured wall-clock seconds of one training step of the chosen shape.</summary>
    public required double SecondsPerStep { get; init; }
    /// <summary>Passes over the training tokens the steps make (steps × batch × context ÷ tokens).</summary>
    public required double Epochs { get; init; }
    /// <summary>Parameters inside matrix products, the embedding and LM head left out (what the tokens-per-parameter rule counts).</summary>
    public required long BodyParameters { get; init; }
    /// <summary>Each shape tried: its name, its measured seconds per step, and why it was or was not taken.</summary>
    public required IReadOnlyList<string> Trials { get; init; }

    /// <summary>One line for a log: <c>time budget 10m: D=128, 4 layers, batch 8, lr 0.001, 4200 steps (0.13 s/step, 3.1 epochs)</c>.</summary>
    public string Describe(TimeSpan budget) => string.Create(CultureInfo.InvariantCulture,
        $"time budget {TimeBudgetPlanner.Format(budget)}: D={HiddenDim}, {NumLayers} layers, batch {BatchSize}, lr {LearningRate:0.####}, " +
        $"{MaxSteps} steps ({SecondsPerStep:0.###} s/step measured, {Epochs:0.#} passes over the training tokens)");
}

/// <summary>
/// Sizes a training run to a wall-clock budget (<see cref="TrainingOptions.TimeBudget"/>, <c>bit-llama train --time-budget 10m</c>):
/// the vocabulary from the size of the text (<see cref="VocabularyFor"/>), then the width, depth, batch, learning
/// rate and steps from the number of training tokens and the step time of each candidate shape, measured on this
/// machine with the run's own thread count.
/// </summary>
/// <remarks>
/// The rule (docs/training.md, "Time budget"): candidate shapes from small to large (<see cref="Shapes"/>); a shape is
/// affordable when the budget buys it at least <see cref="MinSteps"/> steps, and worth it when those steps show it at
/// least <see cref="TokensPerParameter"/> training tokens per body parameter (the compute-optimal ratio of Hoffmann et
/// al. 2022, "Chinchilla"). Steps never make more than <see cref="MaxEpochs"/> passes over a small corpus (repeated
/// data stops paying well before that, Muennighoff et al. 2023), so a small text gets a short run rather than a
/// model that memorises it. The largest shape that is affordable and worth it wins; the smallest is the fallback.
/// </remarks>
public static class TimeBudgetPlanner
{
    /// <summary>A budget that leaves fewer steps than this for a shape rules the shape out.</summary>
    public const int MinSteps = 300;
    /// <summary>Training tokens per body parameter a shape must see to be chosen over a smaller one.</summary>
    public const double TokensPerParameter = 20;
    /// <summary>Most passes over the training tokens a planned run makes.</summary>
    public const double MaxEpochs = 16;
    /// <summary>Share of the budget left for what is not a training step (validation, checkpoints, the plan's own measurements).</summary>
    public const double Overhead = 0.12;

    /// <summary>One candidate shape: width, depth, batch and the peak learning rate measured to suit that width.</summary>
    public sealed record Shape(int HiddenDim, int NumLayers, int BatchSize, double LearningRate)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"D={HiddenDim}x{NumLayers}, batch {BatchSize}");
    }

    /// <summary>The candidates, smallest first (the delta layer's 4 heads divide every width).</summary>
    public static IReadOnlyList<Shape> Shapes { get; } =
    [
        new(64, 2, 8, 2e-3),
        new(96, 3, 8, 1.5e-3),
        new(128, 4, 8, 1e-3),
        new(192, 6, 16, 7e-4),
        new(256, 8, 16, 5e-4),
        new(384, 10, 16, 4e-4),
        new(512, 12, 16, 3e-4),
    ];

    /// <summary>
    /// The tokenizer vocabulary for a text of <paramref name="textBytes"/> UTF-8 bytes: small texts get small
    /// vocabularies, whose rows the model sees often enough to learn (docs/quality.md, "Vocabulary for the corpus size").
    /// </summary>
    public static int VocabularyFor(long textBytes) => textBytes switch
    {
        < 2_000_000 => 512,
        < 8_000_000 => 1024,
        < 32_000_000 => 2048,
        < 128_000_000 => 4096,
        _ => 8192,
    };

    /// <summary>
    /// Chooses the run's shape, batch, learning rate and steps for <paramref name="budget"/> of wall-clock time on
    /// <paramref name="trainTokens"/> training tokens of a <paramref name="vocabSize"/>-token vocabulary, measuring each
    /// candidate's step time with <paramref name="options"/>' other settings (context, TTT type, threads, device).
    /// Properties named in <paramref name="fixedOptions"/> (<c>HiddenDim</c>, <c>NumLayers</c>, <c>BatchSize</c>,
    /// <c>LearningRate</c>, <c>MaxSteps</c>, <c>WarmupSteps</c>) keep the value in <paramref name="options"/>.
    /// </summary>
    public static TrainingPlan Plan(TrainingOptions options, int vocabSize, long trainTokens, TimeSpan budget,
        IReadOnlySet<string>? fixedOptions = null, Func<TrainingOptions, int, double>? secondsPerStep = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (budget <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(budget), budget, "the time budget must be positive");
        fixedOptions ??= new HashSet<string>();
        secondsPerStep ??= (o, v) => BitLlamaTrainer.MeasureSecondsPerStep(o, v);
        bool Fixed(string name) => fixedOptions.Contains(name);
        var clock = Stopwatch.StartNew();
        var trials = new List<string>();
        (Shape Shape, TrainingOptions Options, double Seconds, int Steps)? chosen = null;
        foreach (var shape in CandidateShapes(options, fixedOptions))
        {
            var candidate = Apply(options, shape, fixedOptions);
            double seconds = secondsPerStep(candidate, vocabSize);
            double left = budget.TotalSeconds * (1 - Overhead) - clock.Elapsed.TotalSeconds;
            int affordable = (int)Math.Clamp(left / seconds, 0, int.MaxValue);
            long tokensPerStep = (long)candidate.BatchSize * candidate.ContextLen;
            int steps = Fixed(nameof(TrainingOptions.MaxSteps)) ? candidate.MaxSteps
                : (int)Math.Min(affordable, Math.Max(1, MaxEpochs * trainTokens / tokensPerStep));
            long body = BodyParameters(candidate.ToConfig(vocabSize));
            double tokensPerParameter = (double)steps * tokensPerStep / body;
            string what = string.Create(CultureInfo.InvariantCulture, $"{shape}: {seconds:0.###} s/step, {affordable} steps affordable, {tokensPerParameter:0.#} tokens per body parameter");
            bool takeable = affordable >= MinSteps && tokensPerParameter >= TokensPerParameter;
            if (chosen is null || takeable)
            {
                chosen = (shape, candidate, seconds, steps);
                trials.Add(what + (takeable ? ": fits" : ": the smallest shape, taken as the fallback"));
            }
            else
            {
                trials.Add(what + (affordable < MinSteps ? $": fewer than {MinSteps} steps" : $": fewer than {TokensPerParameter} tokens per parameter"));
                break;   // larger shapes are slower still
            }
            if (affordable < MinSteps) break;
        }
        var (best, bestOptions, bestSeconds, bestSteps) = chosen!.Value;
        int warmup = Fixed(nameof(TrainingOptions.WarmupSteps)) ? bestOptions.WarmupSteps : Math.Min(TrainingDefaults.WarmupSteps, Math.Max(1, bestSteps / 20));
        return new TrainingPlan
        {
            HiddenDim = bestOptions.HiddenDim, NumLayers = bestOptions.NumLayers, BatchSize = bestOptions.BatchSize,
            LearningRate = bestOptions.LearningRate, WarmupSteps = warmup, MaxSteps = Math.Max(1, bestSteps), SecondsPerStep = bestSeconds,
            Epochs = (double)bestSteps * bestOptions.BatchSize * bestOptions.ContextLen / Math.Max(1, trainTokens),
            BodyParameters = BodyParameters(bestOptions.ToConfig(vocabSize)), Trials = trials,
        };
    }

    /// <summary>Sets the plan's shape, batch, learning rate, warm-up and steps on <paramref name="options"/>.</summary>
    public static void Apply(TrainingOptions options, TrainingPlan plan)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(plan);
        options.HiddenDim = plan.HiddenDim;
        options.NumLayers = plan.NumLayers;
        options.BatchSize = plan.BatchSize;
        options.LearningRate = plan.LearningRate;
        options.MinLearningRate = Math.Min(options.MinLearningRate, plan.LearningRate);
        options.WarmupSteps = plan.WarmupSteps;
        options.MaxSteps = plan.MaxSteps;
    }

    // With a fixed width or depth only the ladder's shapes that agree with it are tried (the fixed value kept in each).
    static IEnumerable<Shape> CandidateShapes(TrainingOptions options, IReadOnlySet<string> fixedOptions)
    {
        var shapes = Shapes.AsEnumerable();
        if (fixedOptions.Contains(nameof(TrainingOptions.HiddenDim)) && fixedOptions.Contains(nameof(TrainingOptions.NumLayers)))
            return [Shapes.MinBy(s => Math.Abs(s.HiddenDim - options.HiddenDim))! with { HiddenDim = options.HiddenDim, NumLayers = options.NumLayers }];
        return shapes;
    }

    static TrainingOptions Apply(TrainingOptions options, Shape shape, IReadOnlySet<string> fixedOptions)
    {
        var o = options.Copy();
        if (!fixedOptions.Contains(nameof(TrainingOptions.HiddenDim))) o.HiddenDim = shape.HiddenDim;
        if (!fixedOptions.Contains(nameof(TrainingOptions.NumLayers))) o.NumLayers = shape.NumLayers;
        if (!fixedOptions.Contains(nameof(TrainingOptions.BatchSize))) o.BatchSize = shape.BatchSize;
        if (!fixedOptions.Contains(nameof(TrainingOptions.LearningRate))) o.LearningRate = shape.LearningRate;
        o.MinLearningRate = Math.Min(o.MinLearningRate, o.LearningRate);
        return o;
    }

    /// <summary>Parameters in the blocks' matrix products (TTT projections, SwiGLU), the embedding and LM head left out.</summary>
    public static long BodyParameters(BitLlamaConfig c)
    {
        long dim = c.HiddenDim, inter = c.IntermediateDim;
        long mixer = c.TttType == TttType.Delta ? 4L * dim * c.TttInnerDim : 2L * dim * c.TttDim;
        return c.NumLayers * (mixer + 3 * dim * inter);
    }

    /// <summary><c>10m</c>, <c>90s</c>, <c>1h30m</c>, <c>2.5m</c> or a TimeSpan (<c>00:10:00</c>); null when it is none of these.</summary>
    public static TimeSpan? TryParse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        text = text.Trim();
        if (text.Contains(':') && TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span)) return span;
        double seconds = 0;
        int i = 0;
        bool any = false;
        while (i < text.Length)
        {
            int start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.')) i++;
            if (i == start || i == text.Length) return null;
            if (!double.TryParse(text[start..i], NumberStyles.Float, CultureInfo.InvariantCulture, out double value)) return null;
            double unit = text[i] switch { 'h' => 3600, 'm' => 60, 's' => 1, _ => double.NaN };
            if (double.IsNaN(unit)) return null;
            seconds += value * unit;
            i++;
            any = true;
        }
        return any && seconds is > 0 and < 1e9 ? TimeSpan.FromSeconds(seconds) : null;
    }

    /// <summary>A budget as the flag spells it: <c>10m</c>, <c>1h30m</c>, <c>45s</c>.</summary>
    public static string Format(TimeSpan budget)
    {
        var parts = new List<string>();
        if (budget.TotalHours >= 1) parts.Add($"{(int)budget.TotalHours}h");
        if (budget.Minutes > 0) parts.Add($"{budget.Minutes}m");
        if (budget.Seconds > 0 || parts.Count == 0) parts.Add($"{budget.Seconds}s");
        return string.Concat(parts);
    }
}
