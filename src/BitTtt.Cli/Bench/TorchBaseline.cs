using System.Diagnostics;
using BitTtt.Training;
using static TorchSharp.torch;

namespace BitTtt.Cli.Bench;

/// <summary>The TorchSharp side of <c>bit-llama bench</c>: the same work through libtorch on the CPU.</summary>
internal static class TorchBaseline
{
    /// <summary>fp32 y = W x through <c>torch.mv</c>, in multiply-adds per second (G/s): the faster of 1 and all libtorch threads.</summary>
    public static double Gemv(float[] weights, float[] input, int rows, int cols)
    {
        using var noGrad = no_grad();
        using var w = tensor(weights, [rows, cols]);
        using var x = tensor(input, [cols]);
        double best = 0;
        foreach (int threads in new[] { 1, Environment.ProcessorCount }.Distinct())
        {
            set_num_threads(threads);
            double seconds = BenchFigures.SecondsPerCall(() => { using var y = mv(w, x); });
            best = Math.Max(best, (double)rows * cols / 1e9 / seconds);
        }
        return best;
    }

    /// <summary>
    /// Prompt (one forward over the whole prompt) and decode (token by token carrying the TTT state,
    /// greedy) tokens per second of the TorchSharp model; best of two runs, the first also warms up.
    /// </summary>
    public static (double Prefill, double Decode) Generation(BitLlamaModel model, int[] prompt, int decodeTokens)
    {
        model.eval();
        using var noGrad = no_grad();
        double prefill = double.MaxValue, decode = double.MaxValue;
        for (int rep = 0; rep < 2; rep++)
        {
            var sw = Stopwatch.StartNew();
            TttState state;
            long next;
            using (var scope = NewDisposeScope())
            {
                var (logits, s) = model.Forward(tensor(prompt.Select(i => (long)i).ToArray(), [1, prompt.Length]), null);
                next = logits[0, -1].argmax().item<long>();
                state = s;
                state.MoveToOuterDisposeScope();
            }
            prefill = Math.Min(prefill, sw.Elapsed.TotalSeconds);
            sw.Restart();
            for (int i = 0; i < decodeTokens; i++)
            {
                using var scope = NewDisposeScope();
                var (logits, s) = model.Forward(tensor(new[] { next }, [1, 1]), state);
                next = logits[0, -1].argmax().item<long>();
                state.Dispose();
                state = s;
                state.MoveToOuterDisposeScope();
            }
            state.Dispose();
            decode = Math.Min(decode, sw.Elapsed.TotalSeconds);
        }
        return (prompt.Length / prefill, decodeTokens / decode);
    }
}
