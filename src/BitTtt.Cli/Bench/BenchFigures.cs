using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using BitTtt.Formats;
using BitTtt.Inference.Engine;
using BitTtt.Inference.Kernels;

namespace BitTtt.Cli.Bench;

/// <summary>One GEMV shape: multiply-adds per second (G/s) of each implementation.</summary>
internal sealed record GemvFigure(int Rows, int Cols, double Ternary, double Fp32, double? Torch);

/// <summary>Timing helpers and the managed measurements of <c>bit-llama bench</c>.</summary>
internal static class BenchFigures
{
    /// <summary>
    /// Seconds per call of <paramref name="body"/>: warm-up calls for 0.1 s (so the JIT has tiered up),
    /// then the best of three windows of <paramref name="minSeconds"/>/3 each, since the machine is shared
    /// and a window another process preempted says nothing about the code.
    /// </summary>
    public static double SecondsPerCall(Action body, double minSeconds = 0.3)
    {
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 3 || sw.Elapsed.TotalSeconds < 0.1; i++) body();
        double best = double.MaxValue;
        for (int window = 0; window < 3; window++)
        {
            sw.Restart();
            long calls = 0;
            do { body(); calls++; } while (sw.Elapsed.TotalSeconds < minSeconds / 3);
            best = Math.Min(best, sw.Elapsed.TotalSeconds / calls);
        }
        return best;
    }

    /// <summary>Random (R, C) weights and input; ternary = quantize the input + packed GEMV, fp32 = TensorPrimitives per row.</summary>
    public static (double Ternary, double Fp32, float[] Weights, float[] Input) ManagedGemv(int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        var w = new float[(long)rows * cols];
        for (long i = 0; i < w.LongLength; i++) w[i] = (float)(rng.NextDouble() * 2 - 1);
        var x = new float[cols];
        for (int i = 0; i < cols; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var packed = PackedTernaryMatrix.Quantize(w, rows, cols);
        var q = new Int8Activations(1, cols);
        var y = new float[rows];
        double ternary = SecondsPerCall(() => { q.Quantize(x, 1); TernaryKernels.Gemm(packed, q, y); });
        double fp32 = SecondsPerCall(() => Forward.FullPrecisionGemv(w, x, y));
        double macs = (double)rows * cols / 1e9;
        return (macs / ternary, macs / fp32, w, x);
    }

    /// <summary>
    /// Prefill of a short and a long prompt (fed at once: chunks of <see cref="SequenceState.MaxBatch"/> tokens, every
    /// BitLinear one GEMM per chunk) and decode (token by token, greedy, TTT state carried) tokens per second of the
    /// managed engine, for several models measured in turns (each model's first repetition, then each one's second,
    /// ...), best of <paramref name="repeats"/> each: on a shared machine a burst of load then hits all of them alike.
    /// </summary>
    public static (double Prefill, double LongPrefill, double Decode)[] ManagedGenerationInTurns(IReadOnlyList<InferenceWeights> models, int[] prompt,
        int[] longPrompt, int decodeTokens, int repeats)
    {
        var states = models.Select(m => new SequenceState(m)).ToArray();
        var logits = models.Select(m => new float[m.Config.VocabSize]).ToArray();
        for (int m = 0; m < models.Count; m++)
        {
            var warm = Stopwatch.StartNew();
            for (int i = 0; warm.Elapsed.TotalSeconds < 0.2 || i < 50; i++) Forward.Run(states[m], [i % models[m].Config.VocabSize], logits[m]);   // JIT tier-up
            Forward.Run(states[m], prompt, logits[m]);
        }
        var best = Enumerable.Range(0, models.Count).Select(_ => (Prefill: double.MaxValue, Long: double.MaxValue, Decode: double.MaxValue)).ToArray();
        for (int rep = 0; rep < repeats; rep++)   // best of several: the machine is shared
            for (int m = 0; m < models.Count; m++)
            {
                var (state, l) = (states[m], logits[m]);
                state.Reset();
                var sw = Stopwatch.StartNew();
                Forward.Run(state, prompt, l);
                double prefill = sw.Elapsed.TotalSeconds;
                sw.Restart();
                int[] next = [0];
                for (int i = 0; i < decodeTokens; i++)
                {
                    next[0] = ArgMax(l);
                    Forward.Run(state, next, l);
                }
                double decode = sw.Elapsed.TotalSeconds;
                state.Reset();
                sw.Restart();
                Forward.Run(state, longPrompt, l);
                double longPrefill = sw.Elapsed.TotalSeconds;
                best[m] = (Math.Min(best[m].Prefill, prefill), Math.Min(best[m].Long, longPrefill), Math.Min(best[m].Decode, decode));
            }
        return best.Select(b => (prompt.Length / b.Prefill, longPrompt.Length / b.Long, decodeTokens / b.Decode)).ToArray();
    }

    /// <summary>
    /// Microseconds of one token's delta recurrence in one layer (all heads: update S, read with q), the
    /// vectorized kernel vs its scalar reference, measured in the same run.
    /// </summary>
    public static (double FastUs, double ReferenceUs) DeltaHeadStep(int heads, int headDim)
    {
        var rng = new Random(3);
        float[] Rand(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * 0.1f).ToArray();
        var s = Rand(heads * headDim * headDim);
        var (k, v, q, o) = (Rand(heads * headDim), Rand(heads * headDim), Rand(heads * headDim), new float[heads * headDim]);
        int n = headDim * headDim;
        double fast = SecondsPerCall(() =>
        {
            for (int h = 0; h < heads; h++)
                DeltaKernels.UpdateAndRead(s.AsSpan(h * n, n), k.AsSpan(h * headDim, headDim), v.AsSpan(h * headDim, headDim), q.AsSpan(h * headDim, headDim), 0.5f, o.AsSpan(h * headDim, headDim));
        });
        double reference = SecondsPerCall(() =>
        {
            for (int h = 0; h < heads; h++)
                DeltaKernels.UpdateAndReadReference(s.AsSpan(h * n, n), k.AsSpan(h * headDim, headDim), v.AsSpan(h * headDim, headDim), q.AsSpan(h * headDim, headDim), 0.5f, o.AsSpan(h * headDim, headDim));
        });
        return (1e6 * fast, 1e6 * reference);
    }

    public static int ArgMax(ReadOnlySpan<float> x) => TensorPrimitives.IndexOfMax(x);

    /// <summary>
    /// The random model's tensors by name, as the arrays themselves: the engine's loader packs them with no copy
    /// first, so the load time and resident memory measure the engine alone.
    /// </summary>
    public static Dictionary<string, float[]> ArraysByName(IEnumerable<SafeTensorData> tensors) =>
        tensors.ToDictionary(t => t.Name, t => MemoryMarshal.TryGetArray(t.Data, out var a) && a.Offset == 0 && a.Count == a.Array!.Length ? a.Array : t.Data.ToArray());

    /// <summary>Resident set size in MB.</summary>
    public static double RssMb()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64 / (1024.0 * 1024.0);
    }
}
