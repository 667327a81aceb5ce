using System.Diagnostics;
using System.Globalization;

// Model quality of the mixer types, trained with identical settings on two corpora, in one run:
//   reconstruct, delta   the product's TTT layers (docs/model.md §3a, §3b), trained by BitLlamaTrainer
//   attention            the yardstick: causal softmax attention in the same block, this benchmark only
// on moby-dick (language) and on MQAR text (in-context recall), with n-gram baselines; see Scores.cs for
// what each column measures and docs/quality.md for results.
//
//   dotnet run -c Release --project benchmarks/ModelQuality -- [options]
//   dotnet run -c Release --project benchmarks/ModelQuality -- recall-text --output recall.txt [--lines 20000 --pairs 8 --recall-seed 1]
//   dotnet run -c Release --project benchmarks/ModelQuality -- self-check     (the scores on predictors with known answers)
//   dotnet run -c Release --project benchmarks/ModelQuality -- answer [options]   answers from the conversation (AnswerRun.cs)
//   dotnet run -c Release --project benchmarks/ModelQuality -- answer-data --output chats.jsonl [--examples N --seed N --desk-share X]

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
try
{
    if (args.FirstOrDefault() == "recall-text") return RecallTextCommand(Arguments.Parse(args.Skip(1).ToArray()));
    if (args.FirstOrDefault() == "answer-data") return AnswerRun.DataCommand(AnswerArguments.Parse(args.Skip(1).ToArray()));
    if (args.FirstOrDefault() == "answer") return AnswerRun.Run(AnswerArguments.Parse(args.Skip(1).ToArray()));
    if (args.FirstOrDefault() == "score" && args.Length > 1) return QualityRun.Score(args[1], Arguments.Parse(args.Skip(2).ToArray()));
    if (args.FirstOrDefault() == "self-check") return SelfCheck.Run(Arguments.Parse(args.Skip(1).ToArray()));
    var a = Arguments.Parse(args);
    if (a.Help) { Console.WriteLine(Arguments.Usage); return 0; }
    return QualityRun.Run(a);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"ModelQuality: {e.Message}\n{Arguments.Usage}");
    return 2;
}

static int RecallTextCommand(Arguments a)
{
    if (a.Output is null) throw new ArgumentException("recall-text needs --output FILE");
    var layout = RecallLayout.FromCorpusName(a.Layout) ?? throw new ArgumentException($"--layout: expected recall or recall-FEATURES (sep, header, shared), got '{a.Layout}'");
    new RecallText(a.Pairs, a.Keys, a.Values, layout).Write(a.Output, a.Lines, a.RecallSeed);
    Console.WriteLine($"{a.Output}: {a.Lines} MQAR lines in layout {layout.CorpusName}, {a.Pairs} pairs each, {a.Keys} keys, {a.Values} values, seed {a.RecallSeed}");
    return 0;
}

/// <summary>Command-line options of the benchmark and of <c>recall-text</c>.</summary>
sealed record Arguments
{
    public int Steps { get; init; } = 2000;
    public int Dim { get; init; } = 64;
    public int Layers { get; init; } = 2;
    public int ContextLen { get; init; } = 128;
    public int BatchSize { get; init; } = 8;
    public int VocabSize { get; init; } = 1024;
    public double Lr { get; init; } = 2e-3;
    public int Seed { get; init; } = 42;
    public int Threads { get; init; }
    /// <summary>Warm-up steps; null: min(100, steps / 10).</summary>
    public int? WarmupSteps { get; init; }
    /// <summary>Delta layer shape; null: the product's defaults.</summary>
    public int? TttHeads { get; init; }
    public int? TttConv { get; init; }
    public int? TttChunk { get; init; }
    public float? InnerLr { get; init; }
    public string[] Types { get; init; } = ["reconstruct", "delta", "attention"];
    public string[] Corpora { get; init; } = ["moby", "recall"];
    public string Data { get; init; } = FindMobyDick();
    public string Work { get; init; } = Path.Combine(Path.GetTempPath(), "bitttt-model-quality");
    public int Lines { get; init; } = 20000;
    public int Pairs { get; init; } = 8;
    public int Keys { get; init; } = 64;
    public int Values { get; init; } = 64;
    public int RecallSeed { get; init; } = 1;
    /// <summary>The MQAR layout of <c>recall-text</c> and <c>self-check</c>, as a corpus name ("recall-sep-header-shared").</summary>
    public string Layout { get; init; } = "recall";
    public string? Output { get; init; }
    public bool Help { get; init; }

    public const string Usage = """
        usage: ModelQuality [options]                    train each --types on each --corpora, print the table
          --steps N (2000)  --dim N (64)  --layers N (2)  --context-len N (128)  --batch-size N (8)  --vocab-size N (1024)
          --lr X (0.002)    --seed N (42, model init and batch order)         --threads N (0 = all cores)
          --warmup-steps N (min(100, steps/10))  --inner-lr X  --ttt-heads N  --ttt-conv N  --ttt-chunk N
                            (the TTT options apply to the product's layers; unset: the product's defaults)
          --types reconstruct,delta,attention            --corpora moby,recall[,recall-sep,recall-header,recall-shared,recall-sep-header-shared ...]
          --data PATH (data/moby-dick.txt)               --work DIR (a temp folder: tokenizers, token files, recall text)
          --lines N (20000) --pairs N (8) --keys N (64) --values N (64) --recall-seed N (1)   the MQAR corpora
                            recall-FEATURES: the same task in another layout, features joined by '-': sep (" ;" after each pair),
                            header (a word before each half), shared (keys and values from one set of words)
        usage: ModelQuality recall-text --output FILE [--layout recall-sep-header-shared --lines N --pairs N --keys N --values N --recall-seed N]
        usage: ModelQuality score MODEL [--data PATH]     validation loss and copy score of a saved .bitt/model directory
        usage: ModelQuality self-check [--context-len N --pairs N --layout L ...]   the scores on a lookup "induction" predictor and a context-free one
        """;

    public static Arguments Parse(string[] args)
    {
        var s = new Arguments();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "-h" or "--help") { s = s with { Help = true }; continue; }
            if (i + 1 >= args.Length) throw new ArgumentException($"{a} needs a value");
            string v = args[++i];
            int Int() => int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n : throw new ArgumentException($"{a} {v}: expected an integer");
            s = a switch
            {
                "--steps" => s with { Steps = Int() },
                "--dim" => s with { Dim = Int() },
                "--layers" => s with { Layers = Int() },
                "--context-len" => s with { ContextLen = Int() },
                "--batch-size" => s with { BatchSize = Int() },
                "--vocab-size" => s with { VocabSize = Int() },
                "--lr" => s with { Lr = double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) ? x : throw new ArgumentException($"--lr {v}: expected a number") },
                "--seed" => s with { Seed = Int() },
                "--threads" => s with { Threads = Int() },
                "--warmup-steps" => s with { WarmupSteps = Int() },
                "--ttt-heads" => s with { TttHeads = Int() },
                "--ttt-conv" => s with { TttConv = Int() },
                "--ttt-chunk" => s with { TttChunk = Int() },
                "--inner-lr" => s with { InnerLr = float.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out float f) ? f : throw new ArgumentException($"--inner-lr {v}: expected a number") },
                "--types" => s with { Types = v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) },
                "--corpora" => s with { Corpora = v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) },
                "--data" => s with { Data = v },
                "--work" => s with { Work = v },
                "--lines" => s with { Lines = Int() },
                "--pairs" => s with { Pairs = Int() },
                "--keys" => s with { Keys = Int() },
                "--values" => s with { Values = Int() },
                "--recall-seed" => s with { RecallSeed = Int() },
                "--output" => s with { Output = v },
                "--layout" => s with { Layout = v },
                _ => throw new ArgumentException($"unknown option {a}"),
            };
        }
        foreach (var t in s.Types)
            if (t is not ("reconstruct" or "delta" or "attention")) throw new ArgumentException($"--types: unknown type '{t}' (expected reconstruct, delta, attention)");
        foreach (var c in s.Corpora)
            if (c != "moby" && RecallLayout.FromCorpusName(c) is null) throw new ArgumentException($"--corpora: unknown corpus '{c}' (expected moby, recall or recall-FEATURES)");
        if (s.Lines <= 0) throw new ArgumentException($"--lines must be positive, got {s.Lines}");
        return s;
    }

    // The repository's data/moby-dick.txt, found from the working directory or the build output.
    static string FindMobyDick()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string path = Path.Combine(dir.FullName, "data", "moby-dick.txt");
                if (File.Exists(path)) return path;
            }
        return Path.Combine("data", "moby-dick.txt");
    }
}
