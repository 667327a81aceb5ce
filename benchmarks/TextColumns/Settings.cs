using BitTtt.Tokenization;

namespace BitTtt.Benchmarks.TextColumns;

/// <summary>The benchmark's flags; every one has a default, so the bare command reproduces docs/mlnet.md's figures.</summary>
internal sealed record Settings(int Steps, int HiddenDim, int NumLayers, int VocabSize, int ContextLen, int TrainThreads, string? ModelPath, string? SavePath)
{
    public static Settings Parse(string[] args)
    {
        var s = new Settings(Steps: 1500, HiddenDim: 64, NumLayers: 2, VocabSize: 1024, ContextLen: 64, TrainThreads: 0, ModelPath: null, SavePath: null);
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            s = args[i] switch
            {
                "--steps" => s with { Steps = int.Parse(Value()) },
                "--dim" => s with { HiddenDim = int.Parse(Value()) },
                "--layers" => s with { NumLayers = int.Parse(Value()) },
                "--vocab" => s with { VocabSize = int.Parse(Value()) },
                "--context" => s with { ContextLen = int.Parse(Value()) },
                "--train-threads" => s with { TrainThreads = int.Parse(Value()) },
                "--model" => s with { ModelPath = Value() },
                "--save" => s with { SavePath = Value() },
                _ => throw new ArgumentException($"unknown flag {args[i]} (flags: --steps --dim --layers --vocab --context --train-threads --model --save)"),
            };
        }
        return s;
    }

    /// <summary>The repository root: the first parent of the working directory or of the binary holding data/moby-dick.txt.</summary>
    public static string FindRoot()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "data", "moby-dick.txt"))) return dir.FullName;
        throw new FileNotFoundException("data/moby-dick.txt not found above the working directory: run from the repository");
    }
}

/// <summary>
/// The order-free yardstick for out-of-domain scores: mean ln p(token) under an add-one unigram counted on the training
/// paragraphs with the model's tokenizer. It sees which tokens occur, never their order.
/// </summary>
internal sealed class UnigramScore
{
    readonly BitLlamaTokenizer _tokenizer;
    readonly double[] _logP;

    public UnigramScore(BitLlamaTokenizer tokenizer, IEnumerable<string> train)
    {
        _tokenizer = tokenizer;
        var counts = new long[tokenizer.VocabSize];
        long total = 0;
        foreach (string text in train)
            foreach (int id in tokenizer.Encode(text)) { counts[id]++; total++; }
        _logP = counts.Select(c => Math.Log((c + 1.0) / (total + counts.Length))).ToArray();
    }

    public float Score(string text)
    {
        int[] ids = _tokenizer.Encode(text);
        return ids.Length == 0 ? float.NaN : (float)ids.Average(id => _logP[id]);
    }
}
