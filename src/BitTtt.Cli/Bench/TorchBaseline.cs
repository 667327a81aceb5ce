using static TorchSharp.torch;

namespace BitTtt.Cli.Bench;

/// <summary>The TorchSharp side of <c>bit-llama bench</c>: the same work through libtorch on the CPU.</summary>
internal static class TorchBaseline
{
    /// <summary>fp32 y = W x through <c>torch.mv</c> (libtorch's own threads), in multiply-adds per second (G/s).</summary>
    public static double Gemv(float[] weights, float[] input, int rows, int cols)
    {
        using var noGrad = no_grad();
        using var w = tensor(weights, [rows, cols]);
        using var x = tensor(input, [cols]);
        double seconds = BenchFigures.SecondsPerCall(() => { using var y = mv(w, x); });
        return (double)rows * cols / 1e9 / seconds;
    }
}
