using System.CommandLine;
using System.Linq.Expressions;
using System.Reflection;
using BitTtt.Tokenization;
using BitTtt.Training;

namespace BitTtt.Cli.Commands;

/// <summary>
/// Everything <c>bit-llama train</c> takes: the training options of the library (<see cref="TrainingOptions"/>,
/// the same ones ML.NET's <c>BitLlamaOptions</c> inherits) plus the texts, the tokenizer and whether an earlier run
/// may be replaced. The flags bind onto one of these.
/// </summary>
internal sealed class TrainArguments : TrainingOptions
{
    public string[] Data { get; set; } = [];
    /// <summary>What --data holds: told by the content, or as given.</summary>
    public TrainingData.Format Format { get; set; }
    public string? Tokenizer { get; set; }
    public int VocabSize { get; set; } = BpeTrainerOptions.DefaultVocabSize;
    public bool Force { get; set; }
}

/// <summary>
/// The flags of <c>bit-llama train</c>, one row each: the property it sets, the flag, its help text and its default.
/// The default is read from a new <see cref="TrainArguments"/>, so each is written once (<see cref="TrainingDefaults"/>,
/// <see cref="BpeTrainerOptions"/>). The command's options, its <c>--help</c>, the binding and the spelling of the
/// library's messages for a CLI user (<c>LearningRate</c> becomes <c>--lr</c>, <see cref="FlagOf"/>) all come from
/// these rows, so another front end that mirrors the command can compare its flags with <see cref="All"/> or with
/// <c>bit-llama train --help</c>.
/// </summary>
internal static class TrainFlags
{
    static readonly TrainArguments Defaults = new();

    public static IReadOnlyList<TrainFlag> All { get; } =
    [
        Row(a => a.Data, "--data", "UTF-8 text file, or a directory: every *.txt under it in path order, or a .jsonl file of conversations; repeat for several, read in the order given (the last 5% of all the text, or of the conversations, is held out for validation)", required: true),
        Row(a => a.Format, "--format", "what --data holds: auto (conversations when every file's first line is {\"messages\": [...]}, as OpenAI fine-tuning files; else text), text or chat",
            toProperty: TrainingData.ParseFormat, toFlag: TrainingData.FormatName),
        Row(a => a.InitialModel, "--init-from", "fine-tune: start from this model (.bitt, model directory or checkpoint) and its tokenizer; its shape replaces --dim, --layers and the TTT flags, the schedule is this run's"),
        Row(a => a.TrainOnAllTokens, "--train-on-all", "on conversations, count the loss on every token, not only the assistant replies"),
        Row(a => a.Tokenizer, "--tokenizer", "tokenizer.json to use, or 'gpt2' (default: train a byte-level BPE tokenizer on --data)"),
        Row(a => a.VocabSize, "--vocab-size", $"vocabulary size of the tokenizer trained on --data ({BpeTrainerOptions.MinVocabSize} to {BpeTrainerOptions.MaxVocabSize})"),
        Row(a => a.HiddenDim, "--dim", "hidden dimension (multiple of 4)"),
        Row(a => a.NumLayers, "--layers", "number of blocks"),
        Row(a => a.IntermediateDim, "--intermediate-dim", "SwiGLU width (0 = 4 * dim)"),
        Row(a => a.ContextLen, "--context-len", "tokens per training window"),
        Row(a => a.BatchSize, "--batch-size", "windows per step"),
        Row(a => a.LearningRate, "--lr", "peak learning rate"),
        Row(a => a.WarmupSteps, "--warmup-steps", "linear warmup steps"),
        Row(a => a.MinLearningRate, "--min-lr", "learning rate at the last step (cosine decay)"),
        Row(a => a.SaveInterval, "--save-interval", "steps between checkpoints"),
        Row(a => a.MaxSteps, "--steps", "total steps of the schedule"),
        Row(a => a.TttType, "--ttt-type", "TTT layer: delta (delta rule with heads and a short convolution) or reconstruct (the seed's layer)",
            toProperty: ParseTttType, toFlag: BitLlamaConfig.TttTypeName),
        Row(a => a.InnerLr, "--inner-lr",
            $"TTT inner learning rate: delta's scale of the per-token rate β (default {TrainingDefaults.DeltaInnerLr:0.0}), reconstruct's step η (default {TrainingDefaults.ReconstructInnerLr:0.0})"),
        Row(a => a.TttChunk, "--ttt-chunk", "reconstruct: TTT mini-batch size; delta: block size of the parallel training form (same result for any value)"),
        Row(a => a.TttHeads, "--ttt-heads", "delta: heads"),
        Row(a => a.TttHeadDim, "--ttt-head-dim", "delta: width of one head (0 = dim / heads)"),
        Row(a => a.TttConv, "--ttt-conv", "delta: kernel of the short causal convolution on q, k, v (0 = none)"),
        Row(a => a.Seed, "--seed", "random seed (initialization and window sampling)", shownDefault: TrainingDefaults.Seed),
        Row(a => a.EvalInterval, "--eval-interval", "steps between validation losses (0 = only at the end)"),
        Row(a => a.EvalBatches, "--eval-batches", "batches of --batch-size windows per validation loss"),
        Row(a => a.WeightDecay, "--weight-decay", "AdamW weight decay (matrices only)"),
        Row(a => a.GradientClip, "--grad-clip", "maximum global gradient L2 norm"),
        Row(a => a.Device, "--device", "cpu or cuda"),
        Row(a => a.Threads, "--threads", "libtorch threads (0 = all cores)"),
        Row(a => a.CheckpointDirectory, "--output", "output directory: tokenizer, tokens, checkpoint, model", required: true),
        Row(a => a.Resume, "--resume", "continue the run in OUTPUT from its checkpoint.safetensors"),
        Row(a => a.Force, "--force", "start over in an OUTPUT that holds an earlier run, replacing its checkpoint and model"),
        Row(a => a.StopAfterSteps, "--stop-after-steps", "end this invocation after N steps with a checkpoint (continue later with --resume)"),
        Row(a => a.LossCurveLogX, "--log-x", "draw OUTPUT/loss.png with a log-scale step axis"),
        Row(a => a.TimeBudget, "--time-budget",
            "wall-clock budget such as 10m, 90s or 1h30m: picks --dim, --layers, --batch-size, --lr, --warmup-steps, --steps (and --vocab-size) " +
            "for this machine and text; flags given explicitly are kept",
            toProperty: ParseTimeBudget, toFlag: b => b is { } t ? TimeBudgetPlanner.Format(t) : null!),
    ];

    static readonly Dictionary<string, TrainFlag> ByProperty = Index();

    /// <summary>The flag a CLI user types for an option the library names by its property: <c>LearningRate</c> → <c>--lr</c>.</summary>
    public static string FlagOf(string property) => ByProperty.TryGetValue(property, out var row) ? row.Flag : property;

    /// <summary>The row of a property.</summary>
    public static TrainFlag Of(string property) => ByProperty[property];

    /// <summary>The parsed arguments: every row's value (its default when the flag was not given).</summary>
    public static TrainArguments Bind(ParseResult result)
    {
        var arguments = new TrainArguments();
        foreach (var row in All) row.Bind(result, arguments);
        return arguments;
    }

    // Every settable property of TrainArguments (TrainingOptions' included) has exactly one row: the command cannot
    // be built with an option it does not expose.
    static Dictionary<string, TrainFlag> Index()
    {
        var rows = All.ToDictionary(r => r.Property, StringComparer.Ordinal);
        var missing = typeof(TrainArguments).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && !rows.ContainsKey(p.Name)).Select(p => p.Name).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException($"bit-llama train has no flag for {string.Join(", ", missing)}: add a row to TrainFlags.All");
        return rows;
    }

    // shownDefault: the value a flag stands for when the property's own default is "unset" (Seed: null = 42).
    static TrainFlag Row<T>(Expression<Func<TrainArguments, T>> property, string flag, string description, bool required = false, object? shownDefault = null) =>
        Row<T, T>(property, flag, description, v => v, v => v, required, shownDefault);

    static TrainFlag Row<T, TFlag>(Expression<Func<TrainArguments, T>> property, string flag, string description,
        Func<TFlag, T> toProperty, Func<T, TFlag> toFlag, bool required = false, object? shownDefault = null)
    {
        var info = (PropertyInfo)((MemberExpression)property.Body).Member;
        T value = (T)(shownDefault ?? info.GetValue(Defaults))!;
        var option = new Option<TFlag>(flag) { Description = description, Required = required };
        // Switches, values that are unset by default (InnerLr: the TTT type decides) and required flags show no default.
        if (!required && value is not null && typeof(T) != typeof(bool)) option.DefaultValueFactory = _ => toFlag(value);
        return new TrainFlag<T, TFlag>(info, option, toProperty);
    }

    static TimeSpan? ParseTimeBudget(string? text) => text is null ? null
        : TimeBudgetPlanner.TryParse(text) ?? throw new ArgumentException($"--time-budget must be a duration such as 10m, 90s, 1h30m or 00:10:00, got '{text}'");

    static TttType ParseTttType(string name) => name switch
    {
        "delta" => TttType.Delta,
        "reconstruct" => TttType.Reconstruct,
        _ => throw new ArgumentException($"--ttt-type must be 'delta' or 'reconstruct', got '{name}'"),
    };
}

/// <summary>One flag of <c>bit-llama train</c>: the property it sets, the option, and how its value reaches the property.</summary>
internal abstract class TrainFlag(PropertyInfo property, Option option)
{
    /// <summary>The property of <see cref="TrainArguments"/> (the name the library's messages use).</summary>
    public string Property => property.Name;

    public string Flag => option.Name;

    public string Description => option.Description ?? "";

    public Option Option => option;

    /// <summary>True when the user typed the flag (not its default).</summary>
    public bool Given(ParseResult result) => result.GetResult(option) is { Implicit: false };

    public abstract void Bind(ParseResult result, TrainArguments arguments);

    protected void Set(TrainArguments arguments, object? value) => property.SetValue(arguments, value);
}

internal sealed class TrainFlag<T, TFlag>(PropertyInfo property, Option<TFlag> option, Func<TFlag, T> toProperty) : TrainFlag(property, option)
{
    public override void Bind(ParseResult result, TrainArguments arguments)
    {
        // Absent and without a default (a nullable option, a switch): the property keeps its own default.
        if (result.GetResult(option) is null && option.DefaultValueFactory is null) return;
        Set(arguments, toProperty(result.GetValue(option)!));
    }
}
