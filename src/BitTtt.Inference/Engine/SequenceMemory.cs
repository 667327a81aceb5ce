using BitTtt.Formats;
using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Engine;

/// <summary>
/// A <see cref="SequenceState"/> saved to and loaded from a memory file (<c>.bttm</c>). The byte format is
/// <see cref="MemoryFile"/>'s (BitTtt.Core); this side hands it the state's arrays in the file's order and the model's
/// identity (description and fingerprint).
/// </summary>
public static class SequenceMemory
{
    /// <summary>Writes the state and its position atomically.</summary>
    public static void SaveMemory(this SequenceState state, string path)
    {
        ArgumentNullException.ThrowIfNull(state);
        var arrays = Arrays(state);
        ByRows(state, arrays, toRows: true);   // the engine holds S by columns; the file stores rows (docs/format.md §6)
        MemoryFile.Save(path, Owner(state), state.Position, arrays);
    }

    /// <summary>
    /// Replaces the state with the memory in <paramref name="path"/>; a file of another model, TTT type or shape, and
    /// any malformed one, is a <see cref="BitLlamaFormatException"/> and leaves the state as it was.
    /// </summary>
    public static void LoadMemory(this SequenceState state, string path, BitLlamaLoadLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        var arrays = Arrays(state);
        bool delta = state.Weights.Config.TttType == TttType.Delta;
        var read = delta ? arrays.Select((a, i) => i % 2 == 0 ? new float[a.Length] : a).ToArray() : arrays;   // S read by rows, then transposed in
        state.Position = MemoryFile.Load(path, Owner(state), read, limits);   // writes nothing unless the whole file is valid
        ByRows(state, read, toRows: false, into: state);
    }

    /// <summary>
    /// Converts the S arrays of <paramref name="arrays"/> between the engine's layout (each head by columns) and the file's
    /// (by rows): to new arrays when saving, into the state's own arrays when loading.
    /// </summary>
    static void ByRows(SequenceState state, float[][] arrays, bool toRows, SequenceState? into = null)
    {
        var c = state.Weights.Config;
        if (c.TttType != TttType.Delta) return;
        for (int i = 0; i < c.NumLayers; i++)
        {
            var source = arrays[2 * i];
            var target = toRows ? new float[source.Length] : into!.S[i];
            DeltaKernels.TransposeHeads(source, target, c.TttHeads, c.TttHeadDim);
            if (toRows) arrays[2 * i] = target;
        }
    }

    static MemoryOwner Owner(SequenceState state) => new(state.Weights.Config, state.Weights.Describe(), state.Weights.Fingerprint);

    /// <summary>
    /// The state arrays in <see cref="MemoryFile.Layout"/> order: W, G per layer (reconstruct) or S, then the conv tails
    /// (delta). With the position they are the whole memory: a memory file and an in-memory copy
    /// (<see cref="LlamaSessionState"/>) hold exactly these.
    /// </summary>
    internal static float[][] Arrays(SequenceState state)
    {
        var c = state.Weights.Config;
        var arrays = new float[2 * c.NumLayers][];
        for (int i = 0; i < c.NumLayers; i++)
        {
            bool delta = c.TttType == TttType.Delta;
            arrays[2 * i] = delta ? state.S[i] : state.W[i];
            arrays[2 * i + 1] = delta ? state.ConvTail[i] : state.G[i];
        }
        return arrays;
    }
}
