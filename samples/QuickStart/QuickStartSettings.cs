using System.Globalization;
using BitTtt.MLNet;
using BitTtt.Training;

/// <summary>
/// Command-line settings of the QuickStart. The defaults were chosen by measurement (docs/quality.md, "QuickStart
/// defaults"): within 5 minutes on the idle 2-core machine, ending below the Kneser-Ney bigram of moby-dick's held-out
/// paragraphs. The flags are spelled as <c>bit-llama train</c> spells them; <see cref="Flags"/> is the one table the
/// parser, the usage text and the error messages read.
/// </summary>
sealed record QuickStartSettings
{
    public string DataPath { get; init; } = Path.Combine(AppContext.BaseDirectory, "data", "moby-dick.txt");
    public string OutputPath { get; init; } = "moby.bitt";
    /// <summary>The training run's directory: checkpoint, metrics.csv, baselines.json and loss.png.</summary>
    public string RunDirectory { get; init; } = "moby-run";
    /// <summary>Train on the first N paragraphs only; 0 = all.</summary>
    public int Rows { get; init; }
    public int EvalBatches { get; init; } = 32;
    public string Prompt { get; init; } = "Call me Ishmael. Some years ago";
    public int VocabSize { get; init; } = 1024;
    public int HiddenDim { get; init; } = 64;
    public int NumLayers { get; init; } = 2;
    public BitTtt.TttType TttType { get; init; } = TrainingDefaults.TttType;
    public int ContextLen { get; init; } = 64;
    public int BatchSize { get; init; } = 8;
    public int MaxSteps { get; init; } = 4000;
    public double LearningRate { get; init; } = 2e-3;
    public int MaxTokens { get; init; } = 40;
    public string Device { get; init; } = TrainingDefaults.Device;
    /// <summary>1 by default: at D=64 one libtorch thread trains faster than two (docs/quality.md).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>The longer, better run.</summary>
    static QuickStartSettings Long => new()
    {
        VocabSize = 2048, HiddenDim = 128, NumLayers = 4, ContextLen = 128, BatchSize = 8, MaxSteps = 1500, LearningRate = 1e-3, Threads = 0,
    };

    /// <summary>Seconds, not minutes: every step of the QuickStart on a toy model and 600 paragraphs (what CI runs).</summary>
    static QuickStartSettings Tiny => new()
    {
        VocabSize = 300, HiddenDim = 16, NumLayers = 1, ContextLen = 32, BatchSize = 4, MaxSteps = 30, Rows = 600, EvalBatches = 2, MaxTokens = 16,
    };

    /// <summary>One flag: the option it sets (the name the library's messages use), a value placeholder, its help, its default and how it applies.</summary>
    sealed record Flag(string Name, string Option, string Value, string Description, Func<QuickStartSettings, object> Default,
        Func<QuickStartSettings, string, QuickStartSettings> Apply);

    static readonly Flag[] Flags =
    [
        new("--steps", nameof(BitLlamaOptions.MaxSteps), "N", "optimizer steps", s => s.MaxSteps, (s, v) => s with { MaxSteps = Int(v) }),
        new("--dim", nameof(BitLlamaOptions.HiddenDim), "N", "hidden size, a multiple of 4", s => s.HiddenDim, (s, v) => s with { HiddenDim = Int(v) }),
        new("--layers", nameof(BitLlamaOptions.NumLayers), "N", "number of blocks", s => s.NumLayers, (s, v) => s with { NumLayers = Int(v) }),
        new("--vocab-size", nameof(TokenizeForBitLlamaOptions.VocabSize), "N", "BPE vocabulary size", s => s.VocabSize, (s, v) => s with { VocabSize = Int(v) }),
        new("--context-len", nameof(BitLlamaOptions.ContextLen), "N", "tokens per training window", s => s.ContextLen, (s, v) => s with { ContextLen = Int(v) }),
        new("--batch-size", nameof(BitLlamaOptions.BatchSize), "N", "windows per step", s => s.BatchSize, (s, v) => s with { BatchSize = Int(v) }),
        new("--lr", nameof(BitLlamaOptions.LearningRate), "X", "peak learning rate", s => s.LearningRate,
            (s, v) => s with { LearningRate = double.Parse(v, CultureInfo.InvariantCulture) }),
        new("--ttt-type", nameof(BitLlamaOptions.TttType), "T", "delta | reconstruct (the seed's layer)", s => BitTtt.BitLlamaConfig.TttTypeName(s.TttType),
            (s, v) => s with { TttType = v switch
            {
                "delta" => BitTtt.TttType.Delta,
                "reconstruct" => BitTtt.TttType.Reconstruct,
                _ => throw new ArgumentException("expected 'delta' or 'reconstruct'"),
            } }),
        new("--threads", nameof(BitLlamaOptions.Threads), "N", "TorchSharp threads, 0 = all cores", s => s.Threads, (s, v) => s with { Threads = Int(v) }),
        new("--device", nameof(BitLlamaOptions.Device), "NAME", "cpu | cuda", s => s.Device, (s, v) => s with { Device = v }),
        new("--data", "", "PATH", "a text file, one paragraph per line", _ => "data/moby-dick.txt", (s, v) => s with { DataPath = v }),
        new("--rows", "", "N", "train on the first N paragraphs, 0 = all", s => s.Rows, (s, v) => s with { Rows = Int(v) }),
        new("--output", "", "PATH", "where the .bitt goes", s => s.OutputPath, (s, v) => s with { OutputPath = v }),
        new("--run-dir", nameof(BitLlamaOptions.CheckpointDirectory), "PATH", "checkpoint, metrics.csv, loss.png", s => s.RunDirectory, (s, v) => s with { RunDirectory = v }),
        new("--prompt", "", "TEXT", "the prompt to complete", s => s.Prompt, (s, v) => s with { Prompt = v }),
        new("--max-tokens", "", "N", "tokens to generate", s => s.MaxTokens, (s, v) => s with { MaxTokens = Int(v) }),
    ];

    static string Usage()
    {
        var defaults = new QuickStartSettings();
        var lines = new List<string>
        {
            "usage: dotnet run --project samples/QuickStart -- [options]",
            $"  {"--long",-26}D={Long.HiddenDim}, {Long.NumLayers} layers, context {Long.ContextLen}, {Long.MaxSteps} steps (an hour on a busy 2-core box)",
            $"  {"--tiny",-26}D={Tiny.HiddenDim}, {Tiny.NumLayers} layer, {Tiny.MaxSteps} steps on {Tiny.Rows} paragraphs: a few seconds, checks that everything runs",
        };
        foreach (var f in Flags)
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"  {f.Name + " " + f.Value,-26}{f.Description,-42}(default {f.Default(defaults)})"));
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>The flag a user types for an option the library names (<c>MaxSteps</c> is <c>--steps</c>); other names unchanged.</summary>
    public static string FlagOf(string option) => Flags.FirstOrDefault(f => f.Option == option)?.Name ?? option;

    /// <summary>The settings, or null with the exit code when the run should not start (help, bad option).</summary>
    public static QuickStartSettings? Parse(string[] args, out int exitCode)
    {
        exitCode = 2;
        if (args.Contains("--long") && args.Contains("--tiny")) return Fail("--long and --tiny exclude each other");
        var s = args.Contains("--long") ? Long : args.Contains("--tiny") ? Tiny : new QuickStartSettings();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "--long" or "--tiny") continue;
            if (a is "-h" or "--help") { Console.WriteLine(Usage()); exitCode = 0; return null; }
            var flag = Flags.FirstOrDefault(f => f.Name == a);
            if (flag is null) return Fail($"unknown option {a}");
            if (i + 1 >= args.Length) return Fail($"{a} needs a value");
            string v = args[++i];
            try
            {
                s = flag.Apply(s, v);
            }
            catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
            {
                return Fail($"{a} {v}: {e.Message}");
            }
        }
        if (!File.Exists(s.DataPath)) return Fail($"data file not found: {s.DataPath}");
        exitCode = 0;
        return s;
    }

    static int Int(string v) => int.Parse(v, CultureInfo.InvariantCulture);

    static QuickStartSettings? Fail(string message)
    {
        Console.Error.WriteLine($"QuickStart: {message}\n{Usage()}");
        return null;
    }
}
