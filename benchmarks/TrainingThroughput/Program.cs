using System.Diagnostics;
using System.Globalization;
using BitTtt;
using BitTtt.Training;
using TorchSharp;
using static TorchSharp.torch;

// Measures, in one process: (1) the fp32 matmul peak of TorchSharp on this machine, (2) training
// tokens/s of BitLlamaTrainer for the default 256x8 model and a tiny one, each with both TTT layer types
// ("reconstruct", docs/model.md §3a, and "delta", §3b), and (3) the model FLOPs utilization (MFU) those imply,
// with the delta / reconstruct ratio of tokens/s per shape and thread count; then (4) seconds per training step
// of "reconstruct" against "delta" at the QuickStart shape (D=64, 2 layers, context 64, batch 8, vocab 1024),
// the two runs alternated three times so both see the same machine load, with the ratios delta / reconstruct
// of the best and median runs.
//
// Model FLOPs per trained token (forward + backward = 3 × forward):
//   6 · N                                  N = parameters in matrix multiplications (BitLinear, beta_proj, the LM head;
//                                          the embedding is a gather, norms elementwise)
// reconstruct:
// + L · 3 · (4·d² + 4·b·d)                 TTT dual form per layer and token, forward: K·Wᵀ and Eᵀ·K (2·d² each),
//                                          K·Kᵀ and strict_tril(·)·E (2·b·d each, b = ttt_chunk), d = D/4
// delta, a training window of T ≤ 128 tokens from a zero state (one block, DeltaTttLayer.OneBlockFromZero):
// + L · 3 · H · 7·T·dh                     per layer, token and head, forward: K·Kᵀ and Q·Kᵀ (2·T·dh each, the whole
//                                          T×T products), the triangular solve for U₀ (T·dh), P·U₀ (2·T·dh)
// delta, longer windows (blocks of b = ttt_chunk, DeltaTttLayer.ChunkBlocks):
// + L · 3 · H · (10·b·dh + 6·dh² + 2·dh³/b)   A, P (2·b·dh each), the solve for [W | U₀] (2·b·dh), P·[W | U₀] (4·b·dh),
//                                          [W | U₀]ᵀ·K (4·dh²), (Q − PW)·S₀ᵀ (2·dh²), the state step S·M (2·dh³ per block)
// Quantization, norms, the convolution, SiLU and the softmax are not counted.
//
// Usage: dotnet run -c Release --project benchmarks/TrainingThroughput [-- --quick] [-- --types-only] [-- --busy]

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
bool quick = args.Contains("--quick"), typesOnly = args.Contains("--types-only");
if (args.Contains("--busy")) { BusyMachine.Run(quick); return; }   // quiet vs beside a busy process (BusyMachine.cs)
Console.WriteLine($"TorchSharp {typeof(torch).Assembly.GetName().Version}, {Environment.ProcessorCount} logical cores");
var threadCounts = Environment.ProcessorCount > 1 ? new[] { 1, Environment.ProcessorCount } : new[] { 1 };
if (!typesOnly)
{
    var rows = new List<string>();
    var ratios = new List<string>();
    // Each thread count gets its own matmul peak, measured right before its training runs.
    foreach (int threads in threadCounts)
    {
        set_num_threads(threads);
        Console.WriteLine($"-- libtorch threads: {get_num_threads()}");
        double peak = MatmulPeak(quick);
        foreach (var (name, shape, vocab, warmup, timed) in new[]
        {
            ("tiny", new TrainingOptions { HiddenDim = 64, NumLayers = 2, ContextLen = 64, BatchSize = 16 }, 1024, 3, quick ? 5 : 30),
            ("default", new TrainingOptions(), 4096, 1, quick ? 2 : 5),
        })
        {
            var measured = new Dictionary<TttType, double>();
            foreach (var type in new[] { TttType.Reconstruct, TttType.Delta })
            {
                var options = new TrainingOptions
                {
                    HiddenDim = shape.HiddenDim, NumLayers = shape.NumLayers, ContextLen = shape.ContextLen, BatchSize = shape.BatchSize,
                    Threads = threads, TttType = type,
                };
                var (row, tokensPerSecond) = Measure(name, options, vocab, warmup, timed, peak);
                rows.Add(row);
                measured[type] = tokensPerSecond;
            }
            ratios.Add($"| {name} | {threads} | {measured[TttType.Reconstruct]:0} | {measured[TttType.Delta]:0} | {measured[TttType.Delta] / measured[TttType.Reconstruct]:0.00}× |");
        }
    }
    Console.WriteLine();
    Console.WriteLine("| model | TTT | D×L | vocab | context × batch | params (matmul) | GFLOP/token | threads | steps timed | tokens/s | model GFLOP/s | matmul peak GFLOP/s | MFU |");
    Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    foreach (var row in rows) Console.WriteLine(row);
    Console.WriteLine();
    Console.WriteLine("| model | threads | reconstruct tokens/s | delta tokens/s | delta / reconstruct |");
    Console.WriteLine("|---|---|---|---|---|");
    foreach (var row in ratios) Console.WriteLine(row);
}

// (4) The two TTT types at the QuickStart shape, alternated so both see the same load. Beside wall time, the
// process CPU time per step: on a machine shared with other work a one-thread run's CPU time hardly depends on
// the load, so its ratio is the steadier figure there (with two threads it also counts the second thread's work).
var typeRows = new List<string>();
foreach (int threads in threadCounts)
{
    var runs = new Dictionary<TttType, List<(double Wall, double Cpu)>> { [TttType.Reconstruct] = [], [TttType.Delta] = [] };
    for (int round = 0; round < 3; round++)
        foreach (var type in new[] { TttType.Reconstruct, TttType.Delta })
        {
            var options = new TrainingOptions { HiddenDim = 64, NumLayers = 2, ContextLen = 64, BatchSize = 8, Threads = threads, TttType = type };
            var step = TimePerStep(options, 1024, warmup: 3, timed: quick ? 10 : 40);
            Console.WriteLine($"{BitLlamaConfig.TttTypeName(type)}, {threads} thread(s), round {round + 1}: {step.Wall * 1e3:0.0} ms/step, CPU {step.Cpu * 1e3:0.0} ms/step");
            runs[type].Add(step);
        }
    static double Median(IEnumerable<double> x) => x.Order().ElementAt(x.Count() / 2);
    var (r, d) = (runs[TttType.Reconstruct], runs[TttType.Delta]);
    double rb = r.Min(x => x.Wall), db = d.Min(x => x.Wall), rm = Median(r.Select(x => x.Wall)), dm = Median(d.Select(x => x.Wall));
    double rc = Median(r.Select(x => x.Cpu)), dc = Median(d.Select(x => x.Cpu));
    typeRows.Add($"| {threads} | {rb * 1e3:0.0} | {db * 1e3:0.0} | {db / rb:0.00}× | {rm * 1e3:0.0} | {dm * 1e3:0.0} | {dm / rm:0.00}× | {rc * 1e3:0.0} | {dc * 1e3:0.0} | {dc / rc:0.00}× |");
}
Console.WriteLine();
Console.WriteLine($"QuickStart shape: D=64, 2 layers, context 64, batch 8, vocab 1024, ttt_chunk 16; delta with 4 heads, conv 4. Best and median of 3 alternated runs; load average at the end {LoadAverage()}.");
Console.WriteLine("| threads | reconstruct best ms/step | delta best ms/step | ratio of bests | reconstruct median | delta median | ratio of medians | reconstruct median CPU ms/step | delta median CPU | ratio of CPU medians |");
Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
foreach (var row in typeRows) Console.WriteLine(row);

static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

static double MatmulPeak(bool quick)
{
    double best = 0;
    foreach (int n in new[] { 256, 512, 1024, 2048 })
    {
        using var scope = NewDisposeScope();
        var a = randn(n, n);
        var b = randn(n, n);
        a.matmul(b);
        int reps = Math.Max(2, (int)((quick ? 2e9 : 2e10) / (2.0 * n * n * n)));
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < reps; i++) a.matmul(b).Dispose();
        double gflops = 2.0 * n * n * n * reps / clock.Elapsed.TotalSeconds / 1e9;
        Console.WriteLine($"fp32 matmul {n}×{n}: {gflops:0.0} GFLOP/s ({reps} reps)");
        best = Math.Max(best, gflops);
    }
    Console.WriteLine($"peak (best of the sizes above): {best:0.0} GFLOP/s");
    return best;
}

static (string Row, double TokensPerSecond) Measure(string name, TrainingOptions options, int vocab, int warmup, int timed, double peak)
{
    var config = options.ToConfig(vocab);
    double seconds = TimePerStep(options, vocab, warmup, timed).Wall * timed;
    double tokensPerSecond = (double)timed * options.BatchSize * options.ContextLen / seconds;
    var (matmulParams, flopsPerToken) = ModelFlops.PerToken(config, options.ContextLen);
    double modelGflops = tokensPerSecond * flopsPerToken / 1e9;
    string type = BitLlamaConfig.TttTypeName(config.TttType);
    Console.WriteLine($"{name}, {type}, {options.Threads} thread(s): {tokensPerSecond:0} tokens/s");
    return ($"| {name} | {type} | {config.HiddenDim}×{config.NumLayers} | {vocab} | {options.ContextLen} × {options.BatchSize} | {matmulParams / 1e6:0.00} M | {flopsPerToken / 1e9:0.0000} | " +
        $"{options.Threads} | {timed} | {tokensPerSecond:0} | {modelGflops:0.0} | {peak:0.0} | {modelGflops / peak:P1} |", tokensPerSecond);
}

// Mean wall and process CPU seconds per training step over `timed` steps after `warmup` untimed ones, on random tokens.
static (double Wall, double Cpu) TimePerStep(TrainingOptions options, int vocab, int warmup, int timed)
{
    options.MaxSteps = warmup + timed;
    options.WarmupSteps = 1;
    options.EvalInterval = 0;
    string dir = Path.Combine(Path.GetTempPath(), $"bitttt-training-bench-{Guid.NewGuid():N}");
    Directory.CreateDirectory(dir);
    try
    {
        string path = Path.Combine(dir, "tokens.bin");
        var rng = new Random(1);
        using (var writer = new TokenFileWriter(path))
        {
            writer.Append(Enumerable.Range(0, 200_000).Select(_ => rng.Next(vocab)).ToArray());
            writer.Commit();
        }
        using var tokens = TokenFile.Open(path);
        TimeSpan start = default, end = default, cpuStart = default, cpuEnd = default;
        using var process = Process.GetCurrentProcess();
        TimeSpan Cpu() { process.Refresh(); return process.TotalProcessorTime; }
        var progress = new Recorder(p =>
        {
            if (p.Step == warmup) (start, cpuStart) = (p.Elapsed, Cpu());
            if (p.Step == warmup + timed) (end, cpuEnd) = (p.Elapsed, Cpu());
        });
        new BitLlamaTrainer(options, vocab).Train(tokens, null, progress);
        return ((end - start).TotalSeconds / timed, (cpuEnd - cpuStart).TotalSeconds / timed);
    }
    finally
    {
        Directory.Delete(dir, recursive: true);
    }
}

sealed class Recorder(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}

/// <summary>The model FLOPs per trained token of the formula at the top of this file.</summary>
static class ModelFlops
{
    public static (long MatmulParams, double FlopsPerToken) PerToken(BitLlamaConfig c, int contextLen)
    {
        long dim = c.HiddenDim, inter = c.IntermediateDim, layers = c.NumLayers;
        long mixer;
        double ttt;
        if (c.TttType == TttType.Delta)
        {
            long f = c.TttInnerDim, h = c.TttHeads, dh = c.TttHeadDim;
            mixer = 4 * dim * f + h * dim;
            double b = c.TttChunk;
            ttt = contextLen <= DeltaTttLayer.OneBlockTokens
                ? h * 7.0 * contextLen * dh
                : h * (10.0 * b * dh + 6.0 * dh * dh + 2.0 * dh * dh * dh / b);
        }
        else
        {
            long d = c.TttDim;
            mixer = 2 * d * dim;
            ttt = 4.0 * d * d + 4.0 * c.TttChunk * d;
        }
        long matmulParams = layers * (mixer + 3 * dim * inter) + (long)c.VocabSize * dim;
        return (matmulParams, 6.0 * matmulParams + layers * 3.0 * ttt);
    }
}
