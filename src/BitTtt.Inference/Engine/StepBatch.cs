using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Engine;

/// <summary>
/// What one forward step runs and every buffer it needs, sized once: the tokens of several sequences side by
/// side (each sequence its own <see cref="SequenceState"/>; a decoding session contributes one token, a prompt a
/// chunk), so every BitLinear is one GEMM over all of them and the weights are read once per step. The TTT
/// recurrences run per sequence on that sequence's rows. Not thread-safe: one step at a time.
/// Shape key (docs/model.md): N = rows (tokens of all sequences in the step), S = sequences, D = hidden,
/// I = intermediate, d = D/4, F = H·dh, H = delta heads, V = vocab.
/// </summary>
internal sealed class StepBatch
{
    readonly int[] _tokens;                 // (N) token ids, the sequences' rows one after another
    readonly SequenceState[] _states;       // (S)
    readonly int[] _start, _count;          // (S) each sequence's first row and its number of rows
    readonly int[] _sequenceOf;             // (N) the sequence each row belongs to
    readonly float[]?[] _logits;            // (S) where the logits of the sequence's last row go, or null

    // Activations, named by what they hold; each int8 copy is one BitLinear input, quantized once per step.
    internal readonly float[] Hidden;       // (N, D) residual stream
    internal readonly float[] Normed;       // (N, D) rmsnorm(h): the TTT and SwiGLU sub-layers' input
    internal readonly float[] SubLayerOut;  // (N, D) the TTT or SwiGLU sub-layer's output, added to Hidden
    internal readonly float[] Gate;         // (N, I) gate_proj(m), then silu(gate)·up
    internal readonly float[] Up;           // (N, I) up_proj(m)
    internal readonly Int8Activations NormedInt8;    // (N, D)
    internal readonly Int8Activations SwiGluInt8;    // (N, I)
    // Reconstruct (empty for delta).
    internal readonly float[] Features;     // (N, d) down(a)
    internal readonly float[] UnitKeys;     // (N, d) k = f / (‖f‖ + 1e-6)
    internal readonly float[] Predictions;  // (N, d) TTT predictions, up_proj's input
    internal readonly Int8Activations? PredictionsInt8;
    // Delta (empty for reconstruct).
    internal readonly float[] Q, K, V;      // (N, F) pre-convolution projections
    internal readonly float[] ConvQ, ConvK, ConvV;   // (N, F) after the convolution (q, k then normalized per head)
    internal readonly float[] Beta;         // (N, H) β of every head
    internal readonly float[] DeltaOut;     // (N, F) concat_h(o_h) + v, o_proj's input
    internal readonly Int8Activations? DeltaOutInt8;
    // LM head, one row per sequence that wants logits.
    internal readonly float[] FinalNormed;  // (S, D) rmsnorm(h, norm_f) of each such sequence's last row
    internal readonly Int16Activations HeadInput;    // (S, D)
    internal readonly float[][] HeadOutputs;         // (S) the destinations, in head-row order

    internal readonly StepJobs Jobs;

    public StepBatch(InferenceWeights weights, int maxRows, int maxSequences)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxSequences);
        Weights = weights;
        MaxRows = maxRows;
        MaxSequences = maxSequences;
        var c = weights.Config;
        int dim = c.HiddenDim, inter = c.IntermediateDim;
        bool delta = c.TttType == TttType.Delta;
        int d = delta ? 0 : c.TttDim, f = delta ? c.TttInnerDim : 0;
        _tokens = new int[maxRows];
        _states = new SequenceState[maxSequences];
        _start = new int[maxSequences];
        _count = new int[maxSequences];
        _sequenceOf = new int[maxRows];
        _logits = new float[]?[maxSequences];
        Hidden = new float[maxRows * dim];
        Normed = new float[maxRows * dim];
        SubLayerOut = new float[maxRows * dim];
        Gate = new float[maxRows * inter];
        Up = new float[maxRows * inter];
        NormedInt8 = new Int8Activations(maxRows, dim);
        SwiGluInt8 = new Int8Activations(maxRows, inter);
        Features = new float[maxRows * d];
        UnitKeys = new float[maxRows * d];
        Predictions = new float[maxRows * d];
        PredictionsInt8 = delta ? null : new Int8Activations(maxRows, d);
        Q = new float[maxRows * f];
        K = new float[maxRows * f];
        V = new float[maxRows * f];
        ConvQ = new float[maxRows * f];
        ConvK = new float[maxRows * f];
        ConvV = new float[maxRows * f];
        Beta = new float[delta ? maxRows * c.TttHeads : 0];
        DeltaOut = new float[maxRows * f];
        DeltaOutInt8 = delta ? new Int8Activations(maxRows, f) : null;
        FinalNormed = new float[maxSequences * dim];
        HeadInput = new Int16Activations(maxSequences, dim);
        HeadOutputs = new float[maxSequences][];
        Jobs = new StepJobs(this);
    }

    public InferenceWeights Weights { get; }
    public int MaxRows { get; }
    public int MaxSequences { get; }
    /// <summary>Rows (tokens) added since the last <see cref="Clear"/>.</summary>
    public int Rows { get; private set; }
    /// <summary>Sequences added since the last <see cref="Clear"/>.</summary>
    public int Sequences { get; private set; }

    internal ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, Rows);
    internal SequenceState State(int s) => _states[s];
    internal int Start(int s) => _start[s];
    internal int Count(int s) => _count[s];
    internal int SequenceOf(int row) => _sequenceOf[row];
    internal float[]? LogitsOf(int s) => _logits[s];

    /// <summary>Room left for one more sequence's rows (0 when no sequence fits).</summary>
    public int FreeRows => Sequences < MaxSequences ? MaxRows - Rows : 0;

    /// <summary>
    /// Adds a sequence's tokens (ids already checked against the vocabulary); its last row's logits go to
    /// <paramref name="logits"/> (V) unless null. A state may appear once per step.
    /// </summary>
    public void Add(SequenceState state, ReadOnlySpan<int> tokens, float[]? logits)
    {
        if (!ReferenceEquals(state.Weights, Weights)) throw new ArgumentException("the sequence belongs to another model", nameof(state));
        if (tokens.IsEmpty || tokens.Length > FreeRows)
            throw new ArgumentException($"{tokens.Length} tokens do not fit: {FreeRows} rows free of {MaxRows}, {Sequences} of {MaxSequences} sequences", nameof(tokens));
        if (logits is not null && logits.Length != Weights.Config.VocabSize)
            throw new ArgumentException($"logits buffer holds {logits.Length} values, the vocabulary has {Weights.Config.VocabSize}", nameof(logits));
        for (int s = 0; s < Sequences; s++)
            if (ReferenceEquals(_states[s], state)) throw new ArgumentException("a sequence appears twice in one step", nameof(state));
        _states[Sequences] = state;
        _start[Sequences] = Rows;
        _count[Sequences] = tokens.Length;
        _logits[Sequences] = logits;
        tokens.CopyTo(_tokens.AsSpan(Rows));
        _sequenceOf.AsSpan(Rows, tokens.Length).Fill(Sequences);
        Rows += tokens.Length;
        Sequences++;
    }

    /// <summary>Empties the batch (drops its references to states and logits buffers).</summary>
    public void Clear()
    {
        Array.Clear(_states, 0, Sequences);
        Array.Clear(_logits, 0, Sequences);
        Array.Clear(HeadOutputs);
        Rows = Sequences = 0;
    }
}
