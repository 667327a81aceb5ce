using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using BitTtt.Cli.Bench;
using BitTtt.Inference;
using BitTtt.Formats;
using BitTtt.Inference.Engine;
using BitTtt.Training;

namespace BitTtt.Cli.Commands;

/// <summary>
/// <c>bit-llama bench [MODEL] [--dim D --layers L --vocab-size V --ttt-type TYPE --prompt-tokens P --decode-tokens G --no-torch --json]</c>: kernel GEMV throughput
/// (packed ternary vs fp32 TensorPrimitives vs TorchSharp) and generation speed of the managed engine
/// vs the TorchSharp model token by token, on one model in one run, plus load time and resident memory.
/// <c>--ttt-type both</c> also measures a delta model of the same shape in turns with the reconstruct one.
/// </summary>
internal sealed class BenchCommand : ICliCommand
{
    public int Order => 60;

    static readonly (int Rows, int Cols)[] GemvShapes = [(256, 256), (1024, 256), (256, 1024), (4096, 4096)];

    public Command Create()
    {
        var model = new Argument<string?>("model") { Description = "A .bitt file or model directory; omitted: a randomly initialised model of the given shape", Arity = ArgumentArity.ZeroOrOne };
        var dim = new Option<int>("--dim") { Description = "Hidden width of the random model", DefaultValueFactory = _ => 256 };
        var layers = new Option<int>("--layers") { Description = "Layers of the random model", DefaultValueFactory = _ => 8 };
        var vocab = new Option<int>("--vocab-size") { Description = "Vocabulary of the random model", DefaultValueFactory = _ => 16384 };
        var prompt = new Option<int>("--prompt-tokens") { Description = "Prompt length for the prefill figure", DefaultValueFactory = _ => 128 };
        var decode = new Option<int>("--decode-tokens") { Description = "Tokens generated for the decode figure", DefaultValueFactory = _ => 128 };
        var noTorch = new Option<bool>("--no-torch") { Description = "Skip the TorchSharp comparisons" };
        var json = new Option<bool>("--json") { Description = "Print the figures as one JSON object" };
        var tttType = new Option<string>("--ttt-type")
        {
            Description = "TTT layer of the random model: reconstruct, delta, or both (reconstruct as the main model, plus a delta model of the same shape measured in turns with it)",
            DefaultValueFactory = _ => "reconstruct",
        };
        var saveModel = new Option<string?>("--save-model")
        {
            Description = "Also write the random model it measures to this path (.bitt, else a model directory), with a byte-level BPE tokenizer, so another tool can be measured on the same weights",
        };
        var command = new Command("bench", "Measure kernel and generation speed: managed engine vs TorchSharp") { model, dim, layers, vocab, prompt, decode, noTorch, json, tttType, saveModel };
        command.SetAction((r, ct) => CliCommands.RunAsync(ct => Task.FromResult(Run(
            r.GetValue(model), r.Get(dim), r.Get(layers), r.Get(vocab), r.Get(prompt), r.Get(decode), r.Get(noTorch), r.Get(json),
            r.GetResult(tttType) is { Implicit: false } ? r.Get(tttType) : null, r.GetValue(saveModel))), ct));
        return command;
    }

    /// <summary>The random model's config (docs/model.md §1 defaults; a delta model with inner_lr 1 as new delta models have).</summary>
    static BitLlamaConfig RandomConfig(int vocab, int dim, int layers, TttType type) => type == TttType.Delta
        ? new BitLlamaConfig { VocabSize = vocab, HiddenDim = dim, NumLayers = layers, InnerLr = 1f, TttChunk = 16, TttType = TttType.Delta }
        : new BitLlamaConfig { VocabSize = vocab, HiddenDim = dim, NumLayers = layers, InnerLr = 0.1f, TttChunk = 16 };

    static int Run(string? modelPath, int dim, int layers, int vocab, int promptTokens, int decodeTokens, bool noTorch, bool json, string? tttType, string? saveModel)
    {
        if (promptTokens <= 0) throw new ArgumentException($"--prompt-tokens must be positive, got {promptTokens}");
        if (decodeTokens <= 0) throw new ArgumentException($"--decode-tokens must be positive, got {decodeTokens}");
        if (tttType is not (null or "reconstruct" or "delta" or "both"))
            throw new ArgumentException($"--ttt-type '{tttType}' is not known; available: reconstruct, delta, both");
        if (tttType is not null && modelPath is not null)
            throw new ArgumentException("--ttt-type applies to the random model; a model file has its own ttt_type");
        if (saveModel is not null && modelPath is not null)
            throw new ArgumentException("--save-model writes the random model; a model file is measured as it is");
        if (saveModel is not null && vocab < RandomModel.DefaultVocabSize)
            throw new ArgumentException($"--save-model needs --vocab-size {RandomModel.DefaultVocabSize} or more (the ids of the tokenizer it writes), got {vocab}");
        bool both = tttType == "both";
        var log = json ? TextWriter.Null : Console.Out;

        // Managed model first, so load time and resident memory are measured before libtorch is loaded.
        var sw = Stopwatch.StartNew();
        InferenceWeights weights;
        if (modelPath is null)
        {
            var config = RandomConfig(vocab, dim, layers, tttType == "delta" ? TttType.Delta : TttType.Reconstruct);
            config.Validate("the random model (--dim, --layers, --vocab-size)");   // no "/": the source is shown through Path.GetFileName
            IReadOnlyList<SafeTensorData> tensors;
            if (saveModel is null) tensors = RandomModel.Weights(config, seed: 42);
            else
            {
                var saved = RandomModel.Create(config, seed: 42);
                if (saveModel.EndsWith(".bitt", StringComparison.OrdinalIgnoreCase)) saved.WriteBitt(saveModel);
                else saved.WriteDirectory(saveModel);
                tensors = saved.Tensors;
            }
            var arrays = BenchFigures.ArraysByName(tensors);
            sw.Restart();
            weights = InferenceWeights.Load(config, (name, _) => arrays[name]);
        }
        else
        {
            using var llama = Llama.LoadAuto(modelPath);
            weights = llama.Weights;
        }
        double loadMs = sw.Elapsed.TotalMilliseconds;
        double rssMb = BenchFigures.RssMb();
        var c = weights.Config;
        log.WriteLine($"model: {(modelPath ?? "random")} ({weights.Describe()}); load {loadMs:F0} ms; rss {rssMb:F0} MB; weights {weights.SizeInBytes / 1e6:F1} MB");

        var gemv = new List<GemvFigure>();
        foreach (var (rows, cols) in GemvShapes)
        {
            var (ternary, fp32, w, x) = BenchFigures.ManagedGemv(rows, cols, seed: rows + cols);
            double? torchGemv = noTorch ? null : TorchBaseline.Gemv(w, x, rows, cols);
            gemv.Add(new GemvFigure(rows, cols, ternary, fp32, torchGemv));
        }
        log.WriteLine("GEMV (G multiply-adds/s)   ternary    fp32 TensorPrimitives   TorchSharp");
        foreach (var g in gemv)
            log.WriteLine($"  {g.Rows,5} x {g.Cols,-5}          {g.Ternary,8:F2}   {g.Fp32,12:F2}          {(g.Torch is double t ? t.ToString("F2") : "-"),8}");

        var rng = new Random(7);
        var promptIds = Enumerable.Range(0, promptTokens).Select(_ => rng.Next(c.VocabSize)).ToArray();
        var (prefill, decodeRate) = BenchFigures.ManagedGeneration(weights, promptIds, decodeTokens);
        (double Prefill, double Decode)[]? byType = null;
        if (both)
        {
            var deltaConfig = RandomConfig(vocab, dim, layers, TttType.Delta);
            var deltaWeights = InferenceWeights.Load(deltaConfig, RandomModel.Weights(deltaConfig, seed: 42));
            byType = BenchFigures.ManagedGenerationInTurns([weights, deltaWeights], promptIds, decodeTokens, repeats: 5);
            log.WriteLine($"TTT types, managed engine, same shape, measured in turns, best of 5 ({deltaWeights.Describe()}):");
            log.WriteLine($"  reconstruct: prefill {byType[0].Prefill,9:F1} tok/s   decode {byType[0].Decode,9:F1} tok/s");
            log.WriteLine($"  delta:       prefill {byType[1].Prefill,9:F1} tok/s   decode {byType[1].Decode,9:F1} tok/s   " +
                          $"(delta / reconstruct: prefill {byType[1].Prefill / byType[0].Prefill:F2}x, decode {byType[1].Decode / byType[0].Decode:F2}x)");
            var (fastUs, referenceUs) = BenchFigures.DeltaHeadStep(deltaConfig.TttHeads, deltaConfig.TttHeadDim);
            log.WriteLine($"  delta recurrence of one token in one layer ({deltaConfig.TttHeads} heads x {deltaConfig.TttHeadDim}²): {fastUs:F2} us vectorized, " +
                          $"{referenceUs:F2} us scalar reference ({referenceUs / fastUs:F1}x)");
        }
        double? torchPrefill = null, torchDecode = null;
        int? torchThreads = null;
        if (!noTorch)
        {
            using var torchModel = modelPath is null
                ? ModelWeights.FromWeights(c, RandomModel.Weights(c, seed: 42))
                : ModelWeights.LoadModel(modelPath);
            // libtorch's OpenMP threads spin at every op; on a busy 2-core machine one thread is often far
            // faster than all, so both are measured and the faster figure is the baseline.
            foreach (int threads in new[] { 1, Environment.ProcessorCount }.Distinct())
            {
                TorchSharp.torch.set_num_threads(threads);
                var (p, d) = TorchBaseline.Generation(torchModel, promptIds, decodeTokens);
                if (d > (torchDecode ?? 0)) { torchDecode = d; torchThreads = threads; }
                torchPrefill = Math.Max(torchPrefill ?? 0, p);
            }
        }
        double headMs = BenchFigures.LmHeadMs(weights);
        // The same model with the opt-in int8 LM head (InferenceOptions.Int8LmHead), measured the same way.
        InferenceWeights int8;
        if (modelPath is null)
        {
            int8 = InferenceWeights.Load(c, RandomModel.Weights(c, seed: 42), new InferenceOptions { Int8LmHead = true });
        }
        else
        {
            using var llama = Llama.LoadAuto(modelPath, new InferenceOptions { Int8LmHead = true });
            int8 = llama.Weights;
        }
        var (_, decodeInt8) = BenchFigures.ManagedGeneration(int8, promptIds, decodeTokens);
        double headInt8Ms = BenchFigures.LmHeadMs(int8);
        log.WriteLine($"managed:    prefill {prefill,9:F1} tok/s   decode {decodeRate,9:F1} tok/s   (fp32 LM head alone: {headMs:F3} ms of the {1000 / decodeRate:F3} ms per token)");
        log.WriteLine($"  opt-in int8 LM head:           decode {decodeInt8,9:F1} tok/s   (int8 LM head alone: {headInt8Ms:F3} ms)");
        if (torchDecode is double td && torchPrefill is double tp)
            log.WriteLine($"TorchSharp: prefill {tp,9:F1} tok/s   decode {td,9:F1} tok/s   (decode speed-up {decodeRate / td:F1}x; best of 1 and {Environment.ProcessorCount} libtorch threads)");

        if (json)
        {
            var obj = new JsonObject
            {
                ["model"] = modelPath ?? "random",
                ["config"] = c.ToJsonObject(),
                ["load_ms"] = Math.Round(loadMs, 1),
                ["rss_mb"] = Math.Round(rssMb, 1),
                ["lm_head_ms"] = Math.Round(headMs, 3),
                ["torch_threads"] = torchThreads,
                ["lm_head_int8_ms"] = Math.Round(headInt8Ms, 3),
                ["decode_tokens_per_s"] = new JsonObject { ["managed"] = Math.Round(decodeRate, 1), ["managed_int8_head"] = Math.Round(decodeInt8, 1), ["torch"] = torchDecode is double d1 ? Math.Round(d1, 1) : null },
                ["prefill_tokens_per_s"] = new JsonObject { ["managed"] = Math.Round(prefill, 1), ["torch"] = torchPrefill is double p1 ? Math.Round(p1, 1) : null },
                ["ttt_types"] = byType is null ? null : new JsonObject
                {
                    ["reconstruct"] = new JsonObject { ["prefill_tokens_per_s"] = Math.Round(byType[0].Prefill, 1), ["decode_tokens_per_s"] = Math.Round(byType[0].Decode, 1) },
                    ["delta"] = new JsonObject { ["prefill_tokens_per_s"] = Math.Round(byType[1].Prefill, 1), ["decode_tokens_per_s"] = Math.Round(byType[1].Decode, 1) },
                },
                ["gemv"] = new JsonArray(gemv.Select(g => (JsonNode)new JsonObject
                {
                    ["rows"] = g.Rows, ["cols"] = g.Cols,
                    ["ternary_gmacs"] = Math.Round(g.Ternary, 3), ["fp32_gmacs"] = Math.Round(g.Fp32, 3),
                    ["torch_gmacs"] = g.Torch is double t ? Math.Round(t, 3) : null,
                }).ToArray()),
            };
            Console.WriteLine(obj.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        }
        return 0;
    }
}
