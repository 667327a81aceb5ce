using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BitTtt.Inference.Kernels;

namespace BitTtt.Cli.Bench;

/// <summary>One kernel shape: multiply-adds per second (G/s) on one thread and on all cores.</summary>
internal sealed record KernelFigure(string Name, int Rows, int Cols, int Tokens, double OneThread, double AllCores);

/// <summary>
/// The kernels of <c>bit-llama bench</c>: the ternary × int8 GEMM at decode (1 token), batched-decode and prompt token
/// counts, the int8 LM head, and the machine's integer multiply-add peak measured in the same run, so each kernel's
/// figure reads as a fraction of what this core can do at that moment.
/// </summary>
internal static class KernelFigures
{
    /// <summary>
    /// The core's vpmaddubsw + vpaddw rate with every operand in registers (8 independent chains, no loads): the
    /// instruction-bound ceiling of the ternary kernel, which issues the same two instructions per 64 multiply-adds.
    /// G multiply-adds/s on one thread (64 byte products per instruction pair); 0 without AVX-512BW/AVX2.
    /// </summary>
    public static double PeakOneThread()
    {
        if (Avx512BW.IsSupported) return 64 * 8 * 1024 / 1e9 / BenchFigures.SecondsPerCall(() => MaddLoop512(1024), 0.3);
        if (Avx2.IsSupported) return 32 * 8 * 1024 / 1e9 / BenchFigures.SecondsPerCall(() => MaddLoop256(1024), 0.3);
        return 0;
    }

    static Vector512<short> s_sink512;
    static Vector256<short> s_sink256;

    static void MaddLoop512(int n)
    {
        var a = Vector512.Create((byte)2);
        var b = Vector512.Create((sbyte)3);
        Vector512<short> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        for (int i = 0; i < n; i++)
        {
            s0 += Avx512BW.MultiplyAddAdjacent(a, b); s1 += Avx512BW.MultiplyAddAdjacent(a, b);
            s2 += Avx512BW.MultiplyAddAdjacent(a, b); s3 += Avx512BW.MultiplyAddAdjacent(a, b);
            s4 += Avx512BW.MultiplyAddAdjacent(a, b); s5 += Avx512BW.MultiplyAddAdjacent(a, b);
            s6 += Avx512BW.MultiplyAddAdjacent(a, b); s7 += Avx512BW.MultiplyAddAdjacent(a, b);
        }
        s_sink512 = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
    }

    static void MaddLoop256(int n)
    {
        var a = Vector256.Create((byte)2);
        var b = Vector256.Create((sbyte)3);
        Vector256<short> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        for (int i = 0; i < n; i++)
        {
            s0 += Avx2.MultiplyAddAdjacent(a, b); s1 += Avx2.MultiplyAddAdjacent(a, b);
            s2 += Avx2.MultiplyAddAdjacent(a, b); s3 += Avx2.MultiplyAddAdjacent(a, b);
            s4 += Avx2.MultiplyAddAdjacent(a, b); s5 += Avx2.MultiplyAddAdjacent(a, b);
            s6 += Avx2.MultiplyAddAdjacent(a, b); s7 += Avx2.MultiplyAddAdjacent(a, b);
        }
        s_sink256 = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
    }

    /// <summary>
    /// The ternary GEMM on random weights and activations: one thread (<see cref="TernaryKernels.Gemm"/>), and all cores
    /// (the row blocks split over <see cref="Environment.ProcessorCount"/> tasks, as the engine's worker team splits them).
    /// </summary>
    public static KernelFigure Ternary(int rows, int cols, int tokens, int seed)
    {
        var rng = new Random(seed);
        var w = PackedTernaryMatrix.Quantize(Enumerable.Range(0, rows * cols).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), rows, cols);
        var x = new Int8Activations(tokens, cols);
        x.Quantize(Enumerable.Range(0, tokens * cols).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), tokens);
        var y = new float[tokens * rows];
        double macs = (double)rows * cols * tokens / 1e9;
        double one = BenchFigures.SecondsPerCall(() => TernaryKernels.Gemm(w, x, y));
        int blocks = TernaryKernels.Blocks(w), parts = Math.Min(Environment.ProcessorCount, blocks);
        double all = BenchFigures.SecondsPerCall(() => Parallel.For(0, parts, p =>
            TernaryKernels.GemmBlocks(w, x, y, blocks * p / parts, blocks * (p + 1) / parts)));
        return new KernelFigure("ternary", rows, cols, tokens, macs / one, macs / all);
    }

    /// <summary>The int8 LM head (int8 rows × 16-bit activations) on one thread and on all cores.</summary>
    public static KernelFigure Head(int rows, int cols, int tokens, int seed)
    {
        var rng = new Random(seed);
        var m = Int8RowMatrix.Quantize(Enumerable.Range(0, rows * cols).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), rows, cols);
        var x = new Int16Activations(tokens, cols);
        x.Quantize(Enumerable.Range(0, tokens * cols).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), tokens);
        var y = Enumerable.Range(0, tokens).Select(_ => new float[rows]).ToArray();
        double macs = (double)rows * cols * tokens / 1e9;
        double one = BenchFigures.SecondsPerCall(() => m.Gemm(x, y, 0, m.Blocks));
        int parts = Math.Min(Environment.ProcessorCount, m.Blocks);
        double all = BenchFigures.SecondsPerCall(() => Parallel.For(0, parts, p => m.Gemm(x, y, m.Blocks * p / parts, m.Blocks * (p + 1) / parts)));
        return new KernelFigure("int8 head", rows, cols, tokens, macs / one, macs / all);
    }
}
