namespace BitTtt.Training;

/// <summary>
/// Draws random training windows of <c>context_len + 1</c> tokens. The generator is SplitMix64 with a
/// single 64-bit state, so the data position of a run (state + windows drawn) is saved in a checkpoint
/// and restored exactly, independent of System.Random's or libtorch's implementation.
/// </summary>
internal sealed class WindowSampler
{
    public WindowSampler(ulong state, long windowsDrawn = 0)
    {
        State = state;
        WindowsDrawn = windowsDrawn;
    }

    public static WindowSampler FromSeed(int seed) => new(0x5EED_0000_0000_0000UL ^ (ulong)(uint)seed);

    public ulong State { get; private set; }

    public long WindowsDrawn { get; private set; }

    ulong Next()
    {
        ulong z = State += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform start in [0, count - window], by rejection so there is no modulo bias.</summary>
    public long NextStart(long count, int window)
    {
        ulong range = (ulong)(count - window + 1);
        ulong limit = ulong.MaxValue - ulong.MaxValue % range;
        ulong x;
        do x = Next(); while (x >= limit);
        WindowsDrawn++;
        return (long)(x % range);
    }

    /// <summary>A uniform index in [0, count), by rejection (no modulo bias); counts as one window drawn.</summary>
    public int NextIndex(int count)
    {
        ulong range = (ulong)count;
        ulong limit = ulong.MaxValue - ulong.MaxValue % range;
        ulong x;
        do x = Next(); while (x >= limit);
        WindowsDrawn++;
        return (int)(x % range);
    }

    /// <summary>A batch of examples drawn uniformly: (batch, window) ids and the (batch, window − 1) prediction mask.</summary>
    public (long[] Ids, float[] Mask) NextExampleBatch(ExampleWindows examples, int batch, int window)
    {
        var ids = new long[batch * window];
        var mask = new float[batch * (window - 1)];
        for (int b = 0; b < batch; b++) examples.Fill(NextIndex(examples.Count), b, ids, mask);
        return (ids, mask);
    }

    /// <summary>Fills (batch, window) ids row by row, as int64 for the embedding and the loss.</summary>
    public long[] NextBatch(TokenFile tokens, int batch, int window)
    {
        var ids = new long[batch * window];
        var row = new int[window];
        for (int b = 0; b < batch; b++)
        {
            tokens.CopyTo(NextStart(tokens.Count, window), row);
            for (int t = 0; t < window; t++) ids[b * window + t] = row[t];
        }
        return ids;
    }
}
