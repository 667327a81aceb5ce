using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using BitTtt.Cli.Bench;
using BitTtt.Formats;
using BitTtt.Inference;
using BitTtt.Inference.Engine;
using BitTtt.Tokenization;
using BitTtt.Training;

namespace BitTtt.Cli.Commands;

/// <summary>
/// <c>bit-llama bench [MODEL]</c>: every speed and memory figure of the engine in one run, each beside its target and
/// the same run's reference — the kernels against the core's multiply-add peak, single-stream decode against TorchSharp,
/// sessions decoded together against one session alone, time to first token beside decoding sessions, prefill, and
/// the packed file's size, load time and resident memory (in a fresh process). Random models of the default shape
/// (256 × 8, vocab 16,384) for both TTT types, measured in turns; or the given model. See docs/benchmarks.md.
/// </summary>
internal sealed class BenchCommand : ICliCommand
{
    public int Order => 60;

    static readonly (int Rows, int Cols)[] GemvShapes = [(256, 256), (1024, 256), (256, 1024), (4096, 4096)];

    public Command Create()
    {
        var model = new Argument<string?>("model") { Description = "A .bitt file or model directory; omitted: random models of the given shape", Arity = ArgumentArity.ZeroOrOne };
        var dim = new Option<int>("--dim") { Description = "Hidden width of the random model", DefaultValueFactory = _ => 256 };
        var layers = new Option<int>("--layers") { Description = "Layers of the random model", DefaultValueFactory = _ => 8 };
        var vocab = new Option<int>("--vocab-size") { Description = "Vocabulary of the random model", DefaultValueFactory = _ => 16384 };
        var prompt = new Option<int>("--prompt-tokens") { Description = "Prompt length of the short prefill figure", DefaultValueFactory = _ => 128 };
        var longPrompt = new Option<int>("--long-prompt-tokens") { Description = "Prompt length of the long prefill figure", DefaultValueFactory = _ => 2048 };
        var decode = new Option<int>("--decode-tokens") { Description = "Tokens generated for each decode figure", DefaultValueFactory = _ => 128 };
        var sessions = new Option<int>("--sessions") { Description = "Sessions decoding at once for the batched figures", DefaultValueFactory = _ => 32 };
        var noTorch = new Option<bool>("--no-torch") { Description = "Skip the TorchSharp comparisons" };
        var json = new Option<bool>("--json") { Description = "Print the figures as one JSON object" };
        var tttType = new Option<string>("--ttt-type")
        {
            Description = "TTT layer of the random model: reconstruct, delta, or both (measured in turns)",
            DefaultValueFactory = _ => "both",
        };
        var saveModel = new Option<string?>("--save-model")
        {
            Description = "Also write the random model it measures to this path (.bitt, else a model directory; with --ttt-type both, the delta model), with its byte-level BPE tokenizer, so another tool can be measured on the same weights",
        };
        var loadProbe = new Option<string?>("--load-probe") { Hidden = true, Description = "Load this model, print load ms and resident MB as JSON (the fresh process of the load figure)" };
        var command = new Command("bench", "Measure the engine: kernels, decode, batched decode, time to first token, prefill, packed-file load; beside TorchSharp and the targets")
        {
            model, dim, layers, vocab, prompt, longPrompt, decode, sessions, noTorch, json, tttType, saveModel, loadProbe,
        };
        command.SetAction((r, ct) => CliCommands.RunAsync(ct => Task.FromResult(r.GetValue(loadProbe) is { } probe
            ? ServingFigures.LoadProbe(probe)
            : Run(new Settings(r.GetValue(model), r.Get(dim), r.Get(layers), r.Get(vocab), r.Get(prompt), r.Get(longPrompt), r.Get(decode),
                r.Get(sessions), r.Get(noTorch), r.Get(json), r.GetResult(tttType) is { Implicit: false } ? r.Get(tttType) : null, r.GetValue(saveModel)))), ct));
        return command;
    }

    sealed record Settings(string? ModelPath, int Dim, int Layers, int Vocab, int PromptTokens, int LongPromptTokens, int DecodeTokens,
        int Sessions, bool NoTorch, bool Json, string? TttType, string? SaveModel);

    /// <summary>The random model's config (docs/model.md §1 defaults; a delta model with inner_lr 1 as new delta models have).</summary>
    static BitLlamaConfig RandomConfig(int vocab, int dim, int layers, TttType type) => type == TttType.Delta
        ? new BitLlamaConfig { VocabSize = vocab, HiddenDim = dim, NumLayers = layers, InnerLr = 1f, TttChunk = 16, TttType = TttType.Delta }
        : new BitLlamaConfig { VocabSize = vocab, HiddenDim = dim, NumLayers = layers, InnerLr = 0.1f, TttChunk = 16 };

    static int Run(Settings s)
    {
        foreach (var (value, flag) in new[] { (s.PromptTokens, "--prompt-tokens"), (s.LongPromptTokens, "--long-prompt-tokens"), (s.DecodeTokens, "--decode-tokens"), (s.Sessions, "--sessions") })
            if (value <= 0) throw new ArgumentException($"{flag} must be positive, got {value}");
        if (s.TttType is not (null or "reconstruct" or "delta" or "both"))
            throw new ArgumentException($"--ttt-type '{s.TttType}' is not known; available: reconstruct, delta, both");
        if (s.TttType is not null && s.ModelPath is not null)
            throw new ArgumentException("--ttt-type applies to the random model; a model file has its own ttt_type");
        if (s.SaveModel is not null && s.ModelPath is not null)
            throw new ArgumentException("--save-model writes the random model; a model file is measured as it is");
        if (s.SaveModel is not null && s.Vocab < RandomModel.DefaultVocabSize)
            throw new ArgumentException($"--save-model needs --vocab-size {RandomModel.DefaultVocabSize} or more (the ids of the tokenizer it writes), got {s.Vocab}");
        var log = s.Json ? TextWriter.Null : Console.Out;
        var models = LoadModels(s, log);
        var report = new JsonObject
        {
            ["model"] = s.ModelPath ?? "random",
            ["machine"] = new JsonObject { ["logical_cores"] = Environment.ProcessorCount, ["load_average_at_start"] = LoadAverage() },
        };
        var targets = new List<Target>();
        double peak = KernelFigures.PeakOneThread();
        report["peak_gmacs_one_thread"] = Math.Round(peak, 1);
        log.WriteLine($"integer multiply-add peak (vpmaddubsw in registers, one thread): {peak:F1} G/s; {Environment.ProcessorCount} logical cores; load average {LoadAverage()}");
        report["kernels"] = Kernels(models[0].Llama.Config, peak, s.NoTorch, log, report);
        var perType = new JsonObject();
        foreach (var m in Measure(models, s, log)) perType[m.Name] = m.ToJson(targets, peak);
        report["ttt_types"] = perType;
        report["packed"] = Packed(models[^1], s, log, targets);
        report["targets"] = new JsonArray(targets.Select(t => (JsonNode)t.ToJson()).ToArray());
        log.WriteLine();
        log.WriteLine("targets (figures taken while other processes run are provisional: see the load average)");
        foreach (var t in targets) log.WriteLine($"  {(t.Met ? "met " : "MISS")}  {t.Name,-58} {t.Value,10:F1} {t.Unit,-7} target {t.Comparison} {t.Goal:G} ({t.Ratio:F2}x)");
        report["machine"]!["load_average_at_end"] = LoadAverage();
        foreach (var m in models) m.Llama.Dispose();
        if (s.Json) Console.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        return 0;
    }

    sealed record LoadedModel(string Name, Llama Llama, double PackMs, IReadOnlyList<SafeTensorData>? Tensors, string TokenizerJson);

    static List<LoadedModel> LoadModels(Settings s, TextWriter log)
    {
        if (s.ModelPath is not null)
        {
            var clock = Stopwatch.StartNew();
            var llama = Llama.LoadAuto(s.ModelPath);
            using var package = ModelPackage.Open(s.ModelPath);
            log.WriteLine($"model: {s.ModelPath} ({llama.Weights.Describe()}); loaded in {clock.Elapsed.TotalMilliseconds:F0} ms");
            return [new(BitLlamaConfig.TttTypeName(llama.Config.TttType), llama, clock.Elapsed.TotalMilliseconds, null, package.TokenizerJson!)];
        }
        string tokenizer = ServingFigures.Tokenizer(s.Vocab);
        var types = s.TttType switch { "reconstruct" => new[] { TttType.Reconstruct }, "delta" => [TttType.Delta], _ => [TttType.Reconstruct, TttType.Delta] };
        var result = new List<LoadedModel>();
        foreach (var type in types)
        {
            var config = RandomConfig(Math.Max(s.Vocab, BitLlamaTokenizer.FromJson(tokenizer).VocabSize), s.Dim, s.Layers, type);
            config.Validate("the random model (--dim, --layers, --vocab-size)");   // no "/": the source is shown through Path.GetFileName
            var tensors = RandomModel.Weights(config, seed: 42);
            if (s.SaveModel is not null && type == types[^1])
            {
                var saved = RandomModel.Create(config, seed: 42, tokenizer);
                if (s.SaveModel.EndsWith(".bitt", StringComparison.OrdinalIgnoreCase)) saved.WriteBitt(s.SaveModel);
                else saved.WriteDirectory(s.SaveModel);
            }
            var clock = Stopwatch.StartNew();
            var llama = Llama.FromWeights(config, BitLlamaTokenizer.FromJson(tokenizer), tensors);
            double ms = clock.Elapsed.TotalMilliseconds;
            log.WriteLine($"model: random {llama.Weights.Describe()}; fp32 weights packed in {ms:F0} ms; engine weights {llama.Weights.SizeInBytes / 1e6:F1} MB");
            result.Add(new(BitLlamaConfig.TttTypeName(type), llama, ms, tensors, tokenizer));
        }
        return result;
    }

    static JsonArray Kernels(BitLlamaConfig c, double peak, bool noTorch, TextWriter log, JsonObject report)
    {
        var figures = new List<KernelFigure>();
        int inter = c.IntermediateDim, dim = c.HiddenDim;
        foreach (int tokens in new[] { 1, 8, 32, 128 }) figures.Add(KernelFigures.Ternary(inter, dim, tokens, seed: tokens));   // gate_proj
        foreach (int tokens in new[] { 1, 32 }) figures.Add(KernelFigures.Ternary(dim, inter, tokens, seed: 100 + tokens));    // down_proj
        figures.Add(KernelFigures.Ternary(4096, 4096, 1, seed: 7));                                                             // the GEMV yardstick
        foreach (int tokens in new[] { 1, 32 }) figures.Add(KernelFigures.Head(c.VocabSize, dim, tokens, seed: 200 + tokens));
        log.WriteLine("kernels, G multiply-adds/s       one thread (of peak)   all cores");
        foreach (var f in figures)
            log.WriteLine($"  {f.Name,-9} {f.Rows,5} x {f.Cols,-5} T={f.Tokens,-4} {f.OneThread,8:F1} ({f.OneThread / peak,4:P0})   {f.AllCores,8:F1}");
        var gemv = new JsonArray();
        foreach (var (rows, cols) in GemvShapes)   // the figures earlier runs recorded: one token, input quantized each call
        {
            var (ternary, fp32, w, x) = BenchFigures.ManagedGemv(rows, cols, seed: rows + cols);
            double? torchGemv = noTorch ? null : TorchBaseline.Gemv(w, x, rows, cols);
            gemv.Add(new JsonObject
            {
                ["rows"] = rows, ["cols"] = cols, ["ternary_gmacs"] = Math.Round(ternary, 3), ["fp32_gmacs"] = Math.Round(fp32, 3),
                ["torch_gmacs"] = torchGemv is double t ? Math.Round(t, 3) : null,
            });
            log.WriteLine($"  GEMV {rows,5} x {cols,-5} (quantize + kernel, one thread) {ternary,8:F1}   fp32 TensorPrimitives {fp32,6:F1}   TorchSharp {(torchGemv is double tg ? tg.ToString("F1") : "-")}");
        }
        report["gemv"] = gemv;
        return new JsonArray(figures.Select(f => (JsonNode)new JsonObject
        {
            ["kernel"] = f.Name, ["rows"] = f.Rows, ["cols"] = f.Cols, ["tokens"] = f.Tokens,
            ["one_thread_gmacs"] = Math.Round(f.OneThread, 2), ["all_cores_gmacs"] = Math.Round(f.AllCores, 2),
            ["one_thread_of_peak"] = peak > 0 ? Math.Round(f.OneThread / peak, 3) : null,
        }).ToArray());
    }

    /// <summary>The figures of one model.</summary>
    sealed class TypeFigures(LoadedModel model, Settings settings)
    {
        public string Name => model.Name;
        public double Decode, DecodeFp32Head, Prefill, LongPrefill, LibrarySingle, LibraryConcurrent, TtftP50, TtftP95;
        public double? TorchDecode, TorchPrefill, DeltaStepUs;
        public int? TorchThreads;

        public JsonObject ToJson(List<Target> targets, double peak)
        {
            var c = model.Llama.Config;
            long ternary = TernaryMacs(c), head = (long)c.VocabSize * c.HiddenDim;
            double ratio = TorchDecode is double t ? Decode / t : double.NaN;
            targets.Add(new($"{Name}: single-stream decode", Decode, "tok/s", ">=", 4000));
            if (TorchDecode is not null) targets.Add(new($"{Name}: single-stream decode / TorchSharp", ratio, "x", ">=", 50));
            targets.Add(new($"{Name}: decode with {settings.Sessions} sessions (library)", LibraryConcurrent, "tok/s", ">=", 15000));
            targets.Add(new($"{Name}: {settings.Sessions} sessions / one session (library)", LibraryConcurrent / LibrarySingle, "x", ">=", 4));
            targets.Add(new($"{Name}: first token p95, 32-token prompt beside {settings.Sessions - 1}", TtftP95, "ms", "<=", 50));
            targets.Add(new($"{Name}: prefill, {settings.PromptTokens}-token prompt", Prefill, "tok/s", ">=", 20000));
            targets.Add(new($"{Name}: prefill, {settings.LongPromptTokens}-token prompt", LongPrefill, "tok/s", ">=", 20000));
            return new JsonObject
            {
                ["config"] = c.ToJsonObject(),
                ["decode_tokens_per_s"] = new JsonObject
                {
                    ["managed"] = Math.Round(Decode, 1), ["managed_fp32_head"] = Math.Round(DecodeFp32Head, 1),
                    ["torch"] = TorchDecode is double d ? Math.Round(d, 1) : null, ["managed_over_torch"] = double.IsNaN(ratio) ? null : Math.Round(ratio, 1),
                    ["torch_threads"] = TorchThreads,
                },
                ["prefill_tokens_per_s"] = new JsonObject
                {
                    [settings.PromptTokens.ToString()] = Math.Round(Prefill, 1), [settings.LongPromptTokens.ToString()] = Math.Round(LongPrefill, 1),
                    ["torch"] = TorchPrefill is double p ? Math.Round(p, 1) : null,
                },
                ["library"] = new JsonObject
                {
                    ["one_session_tokens_per_s"] = Math.Round(LibrarySingle, 1), ["sessions"] = settings.Sessions,
                    ["sessions_tokens_per_s"] = Math.Round(LibraryConcurrent, 1), ["ratio"] = Math.Round(LibraryConcurrent / LibrarySingle, 2),
                },
                ["time_to_first_token_ms"] = new JsonObject
                {
                    ["prompt_tokens"] = 32, ["decoding_sessions"] = settings.Sessions - 1, ["p50"] = Math.Round(TtftP50, 1), ["p95"] = Math.Round(TtftP95, 1),
                },
                ["per_token"] = new JsonObject
                {
                    ["ternary_macs"] = ternary, ["lm_head_macs"] = head,
                    ["weight_bytes"] = PackedTernaryBytes(c) + Int8Rows.PadRows(c.VocabSize) * (long)(c.HiddenDim + 4),   // codes + int8 head read per step
                    ["decode_gmacs"] = Math.Round((ternary + head) * Decode / 1e9, 1),
                    ["decode_of_one_thread_peak"] = peak > 0 ? Math.Round((ternary + head) * Decode / 1e9 / peak, 3) : null,
                },
                ["packing_ms"] = Math.Round(model.PackMs, 1),
                ["delta_recurrence_us_per_token_and_layer"] = DeltaStepUs is double us ? Math.Round(us, 2) : null,
            };
        }
    }

    /// <summary>Multiply-adds of every BitLinear for one token.</summary>
    static long TernaryMacs(BitLlamaConfig c) => BitLlamaWeights.Expected(c).Where(e => e.IsTernary).Sum(e => e.Shape[0] * e.Shape[1]);

    /// <summary>Bytes of packed ternary codes a decode step reads.</summary>
    static long PackedTernaryBytes(BitLlamaConfig c) =>
        BitLlamaWeights.Expected(c).Where(e => e.IsTernary).Sum(e => TernaryPacking.PackedBytes((int)e.Shape[0], (int)e.Shape[1]));

    static List<TypeFigures> Measure(List<LoadedModel> models, Settings s, TextWriter log)
    {
        var rng = new Random(7);
        int vocab = models[0].Llama.Config.VocabSize;
        var prompt = Enumerable.Range(0, s.PromptTokens).Select(_ => rng.Next(vocab)).ToArray();
        var longPrompt = Enumerable.Range(0, s.LongPromptTokens).Select(_ => rng.Next(vocab)).ToArray();
        var figures = models.Select(m => new TypeFigures(m, s)).ToList();
        var engine = BenchFigures.ManagedGenerationInTurns(models.Select(m => m.Llama.Weights).ToList(), prompt, longPrompt, s.DecodeTokens, repeats: 5);
        for (int i = 0; i < models.Count; i++) (figures[i].Prefill, figures[i].LongPrefill, figures[i].Decode) = engine[i];
        for (int i = 0; i < models.Count; i++)
        {
            var m = models[i];
            if (m.Tensors is not null)
            {
                var fp32 = InferenceWeights.Load(m.Llama.Config, m.Tensors, new InferenceOptions { Int8LmHead = false });
                figures[i].DecodeFp32Head = BenchFigures.ManagedGenerationInTurns([fp32], prompt[..Math.Min(8, prompt.Length)], longPrompt[..8], s.DecodeTokens, repeats: 3)[0].Decode;
            }
            (figures[i].LibrarySingle, figures[i].LibraryConcurrent) = ServingFigures.Decode(m.Llama, s.DecodeTokens, s.Sessions, repeats: 3);
            (figures[i].TtftP50, figures[i].TtftP95) = ServingFigures.TimeToFirstToken(m.Llama, 32, s.Sessions - 1, probes: 20);
            if (!s.NoTorch) Torch(m, prompt, s.DecodeTokens, figures[i]);
            var f = figures[i];
            log.WriteLine($"{f.Name}:");
            log.WriteLine($"  decode, one sequence (engine, greedy)   {f.Decode,9:F1} tok/s   fp32 LM head {f.DecodeFp32Head,9:F1} tok/s" +
                (f.TorchDecode is double td ? $"   TorchSharp {td:F1} tok/s ({f.Decode / td:F1}x, {f.TorchThreads} libtorch threads)" : ""));
            log.WriteLine($"  prefill {s.PromptTokens}-token prompt               {f.Prefill,9:F1} tok/s   {s.LongPromptTokens}-token prompt {f.LongPrefill,9:F1} tok/s" +
                (f.TorchPrefill is double tp ? $"   TorchSharp {tp:F1} tok/s" : ""));
            log.WriteLine($"  library, sampled: one session           {f.LibrarySingle,9:F1} tok/s   {s.Sessions} sessions {f.LibraryConcurrent,9:F1} tok/s ({f.LibraryConcurrent / f.LibrarySingle:F2}x)");
            log.WriteLine($"  first token of a 32-token prompt beside {s.Sessions - 1} decoding sessions: p50 {f.TtftP50:F1} ms, p95 {f.TtftP95:F1} ms");
            if (m.Llama.Config.TttType == TttType.Delta)
            {
                var (fastUs, referenceUs) = BenchFigures.DeltaHeadStep(m.Llama.Config.TttHeads, m.Llama.Config.TttHeadDim);
                f.DeltaStepUs = fastUs;
                log.WriteLine($"  delta recurrence of one token in one layer ({m.Llama.Config.TttHeads} heads x {m.Llama.Config.TttHeadDim}²): {fastUs:F2} us (scalar reference {referenceUs:F2} us)");
            }
        }
        return figures;
    }

    static void Torch(LoadedModel m, int[] prompt, int decodeTokens, TypeFigures f)
    {
        using var torchModel = m.Tensors is not null
            ? ModelWeights.FromWeights(m.Llama.Config, m.Tensors)
            : ModelWeights.LoadModel(m.Llama.SourcePath!);
        // libtorch's OpenMP threads spin at every op; on a busy 2-core machine one thread is often faster than all,
        // so both are measured and the faster figure is the baseline.
        foreach (int threads in new[] { 1, Environment.ProcessorCount }.Distinct())
        {
            TorchSharp.torch.set_num_threads(threads);
            var (p, d) = TorchBaseline.Generation(torchModel, prompt, decodeTokens);
            if (d > (f.TorchDecode ?? 0)) { f.TorchDecode = d; f.TorchThreads = threads; }
            f.TorchPrefill = Math.Max(f.TorchPrefill ?? 0, p);
        }
    }

    /// <summary>The model written packed: its size, and its load time and resident memory in a fresh process.</summary>
    static JsonObject Packed(LoadedModel m, Settings s, TextWriter log, List<Target> targets)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"bitllama-bench-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "model.bitt");
            m.Llama.SavePacked(path);
            double mb = new FileInfo(path).Length / 1e6;
            var (loadMs, rssMb) = ServingFigures.LoadInFreshProcess(path);
            log.WriteLine($"packed .bitt of the {m.Name} model: {mb:F2} MB (tokenizer included); in a fresh process: load {loadMs:F1} ms, resident {rssMb:F1} MB after it");
            targets.Add(new($"{m.Name}: packed .bitt size", mb, "MB", "<=", 12));
            targets.Add(new($"{m.Name}: packed .bitt load (fresh process)", loadMs, "ms", "<=", 50));
            targets.Add(new($"{m.Name}: resident memory after load (fresh process)", rssMb, "MB", "<=", 60));
            return new JsonObject { ["ttt_type"] = m.Name, ["size_mb"] = Math.Round(mb, 2), ["load_ms"] = Math.Round(loadMs, 1), ["rss_mb"] = Math.Round(rssMb, 1) };
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    static JsonArray LoadAverage() =>
        File.Exists("/proc/loadavg") ? new JsonArray(File.ReadAllText("/proc/loadavg").Split(' ').Take(3).Select(v => (JsonNode)double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray()) : [];

    /// <summary>A target line: the figure, its unit, the comparison and goal, and whether this run met it.</summary>
    sealed record Target(string Name, double Value, string Unit, string Comparison, double Goal)
    {
        public bool Met => Comparison == ">=" ? Value >= Goal : Value <= Goal;
        /// <summary>How far the figure is from the goal, as a factor (above 1 = met).</summary>
        public double Ratio => Comparison == ">=" ? Value / Goal : Goal / Value;
        public JsonObject ToJson() => new()
        {
            ["name"] = Name, ["value"] = Math.Round(Value, 2), ["unit"] = Unit, ["target"] = $"{Comparison} {Goal}", ["met"] = Met, ["ratio"] = Math.Round(Ratio, 3),
        };
    }
}
