using System.Globalization;

/// <summary>
/// Command-line settings of the QuickStart. The defaults were chosen by measurement (docs/quality.md, "QuickStart
/// defaults"): within 5 minutes on the idle 2-core machine, ending below the Kneser-Ney bigram of moby-dick's held-out paragraphs.
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
    public BitTtt.TttType TttType { get; init; } = BitTtt.TttType.Delta;
    public int ContextLength { get; init; } = 64;
    public int BatchSize { get; init; } = 8;
    public int Steps { get; init; } = 4000;
    public double LearningRate { get; init; } = 2e-3;
    public int MaxTokens { get; init; } = 40;
    public string Device { get; init; } = "cpu";
    /// <summary>1 by default: at D=64 one libtorch thread trains faster than two (docs/quality.md).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>The longer, better run.</summary>
    static QuickStartSettings Long => new()
    {
        VocabSize = 2048, HiddenDim = 128, NumLayers = 4, ContextLength = 128, BatchSize = 8, Steps = 1500, LearningRate = 1e-3, Threads = 0,
    };

    /// <summary>Seconds, not minutes: every step of the QuickStart on a toy model and 600 paragraphs (what CI runs).</summary>
    static QuickStartSettings Tiny => new()
    {
        VocabSize = 300, HiddenDim = 16, NumLayers = 1, ContextLength = 32, BatchSize = 4, Steps = 30, Rows = 600, EvalBatches = 2, MaxTokens = 16,
    };

    const string Usage = """
        usage: dotnet run --project samples/QuickStart -- [options]
          --long              D=128, 4 layers, context 128, 1500 steps (an hour on a busy 2-core box)
          --tiny              D=16, 1 layer, 30 steps on 600 paragraphs: a few seconds, checks that everything runs
          --steps N           optimizer steps                        (default 4000)
          --dim N             hidden size, a multiple of 4           (default 64)
          --layers N          number of blocks                       (default 2)
          --vocab N           BPE vocabulary size                    (default 1024)
          --context N         training context length                (default 64)
          --batch N           sequences per step                     (default 8)
          --lr X              peak learning rate                     (default 0.002)
          --ttt-type T        delta | reconstruct (the seed's layer) (default delta)
          --threads N         TorchSharp threads, 0 = all cores      (default 1)
          --device NAME       cpu | cuda                             (default cpu)
          --data PATH         a text file, one paragraph per line    (default data/moby-dick.txt)
          --rows N            train on the first N paragraphs, 0 = all (default 0)
          --out PATH          where the .bitt goes                   (default moby.bitt)
          --run-dir PATH      checkpoint, metrics.csv, loss.png      (default moby-run)
          --prompt TEXT       the prompt to complete
          --max-tokens N      tokens to generate                     (default 40)
        """;

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
            if (a is "-h" or "--help") { Console.WriteLine(Usage); exitCode = 0; return null; }
            if (i + 1 >= args.Length) return Fail($"{a} needs a value");
            string v = args[++i];
            try
            {
                s = a switch
                {
                    "--steps" => s with { Steps = Int(v) },
                    "--dim" => s with { HiddenDim = Int(v) },
                    "--layers" => s with { NumLayers = Int(v) },
                    "--ttt-type" => s with { TttType = v switch
                    {
                        "delta" => BitTtt.TttType.Delta,
                        "reconstruct" => BitTtt.TttType.Reconstruct,
                        _ => throw new ArgumentException("expected 'delta' or 'reconstruct'"),
                    } },
                    "--vocab" => s with { VocabSize = Int(v) },
                    "--context" => s with { ContextLength = Int(v) },
                    "--batch" => s with { BatchSize = Int(v) },
                    "--lr" => s with { LearningRate = double.Parse(v, CultureInfo.InvariantCulture) },
                    "--threads" => s with { Threads = Int(v) },
                    "--device" => s with { Device = v },
                    "--data" => s with { DataPath = v },
                    "--out" => s with { OutputPath = v },
                    "--run-dir" => s with { RunDirectory = v },
                    "--rows" => s with { Rows = Int(v) },
                    "--prompt" => s with { Prompt = v },
                    "--max-tokens" => s with { MaxTokens = Int(v) },
                    _ => throw new ArgumentException($"unknown option {a}"),
                };
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
        Console.Error.WriteLine($"QuickStart: {message}\n{Usage}");
        return null;
    }
}
