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
        MemoryFile.Save(path, Owner(state), state.Position, FileArrays(state));
    }

    /// <summary>
    /// Replaces the state with the memory in <paramref name="path"/>; a file of another model, TTT type or shape, and
    /// any malformed one, is a <see cref="BitLlamaFormatException"/> and leaves the state as it was.
    /// </summary>
    public static void LoadMemory(this SequenceState state, string path, BitLlamaLoadLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        LoadFileArrays(state, arrays => MemoryFile.Load(path, Owner(state), arrays, limits));
    }

    /// <summary>
    /// The state's arrays as a memory file stores them (<see cref="MemoryFile.Layout"/> order, each head of S by rows):
    /// the engine holds S by columns, so S is a transposed copy; the other arrays are the state's own.
    /// </summary>
    static float[][] FileArrays(SequenceState state)
    {
        var arrays = Arrays(state);
        var c = state.Weights.Config;
        if (c.TttType == TttType.Delta)
            for (int i = 0; i < c.NumLayers; i++)
            {
                var rows = new float[arrays[2 * i].Length];
                DeltaKernels.TransposeHeads(arrays[2 * i], rows, c.TttHeads, c.TttHeadDim);
                arrays[2 * i] = rows;
            }
        return arrays;
    }

    /// <summary>
    /// Runs <paramref name="load"/> (a memory file reader that writes nothing unless the whole file is valid, and returns
    /// the position) into arrays of the file's layout, then puts them into the state: S is read by rows and transposed
    /// in, the other arrays are read in place.
    /// </summary>
    static void LoadFileArrays(SequenceState state, Func<float[][], long> load)
    {
        var c = state.Weights.Config;
        bool delta = c.TttType == TttType.Delta;
        var read = Arrays(state);
        if (delta) for (int i = 0; i < c.NumLayers; i++) read[2 * i] = new float[read[2 * i].Length];
        state.Position = load(read);
        if (delta) for (int i = 0; i < c.NumLayers; i++) DeltaKernels.TransposeHeads(read[2 * i], state.S[i], c.TttHeads, c.TttHeadDim);
    }

    /// <summary>Writes the bytes of a memory file to <paramref name="destination"/> (see <see cref="MemoryFile"/>).</summary>
    public static void SaveMemory(this SequenceState state, Stream destination)
    {
        ArgumentNullException.ThrowIfNull(state);
        MemoryFile.Save(destination, Owner(state), state.Position, FileArrays(state));
    }

    /// <summary>Replaces the state with the memory read from <paramref name="source"/>; errors begin with <paramref name="sourceName"/>.</summary>
    public static void LoadMemory(this SequenceState state, Stream source, string sourceName, BitLlamaLoadLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        LoadFileArrays(state, arrays => MemoryFile.Load(source, sourceName, Owner(state), arrays, limits));
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
