using System.Numerics.Tensors;
using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Engine;

/// <summary>
/// docs/model.md §3 for a step of several sequences (<see cref="Step"/>) or one sequence (<see cref="Run"/>). Every
/// BitLinear is one GEMM over all rows of the step (the weights are read once per step, whatever the number of
/// sequences), the TTT recurrences run per sequence on its own rows (<see cref="ReconstructLayer"/>,
/// <see cref="DeltaLayer"/>), and the LM head runs only for the rows whose logits are wanted. Each row's arithmetic
/// is the same in any step: a sequence's logits are bitwise the same alone or beside other sequences, and a
/// prompt fed at once, token by token or in any split gives the same logits. Stages split across the cores of a
/// <see cref="WorkerTeam"/> when they are large enough to pay for it.
/// Shape key (docs/model.md): N = rows of the step, T = one sequence's tokens, D = hidden, I = intermediate, V = vocab, L = layers.
/// </summary>
public static class Forward
{
    /// <summary>Largest number of tokens accepted in one call (the TTT state itself has no length limit).</summary>
    public const int MaxTokensPerCall = 1 << 20;

    /// <summary>Below this many multiply-adds a stage runs on the calling thread: handing it to a helper costs about a microsecond.</summary>
    internal const long ParallelWork = 1L << 17;

    /// <summary>
    /// Feeds <paramref name="tokens"/> through the model, advancing <paramref name="state"/>; writes the
    /// logits of the last token to <paramref name="logits"/> (V) unless it is empty.
    /// </summary>
    public static void Run(SequenceState state, ReadOnlySpan<int> tokens, Span<float> logits)
    {
        ArgumentNullException.ThrowIfNull(state);
        CheckCall(state.Weights.Config, tokens, logits);
        if (tokens.IsEmpty) return;
        RunInto(state, tokens, logits.IsEmpty ? null : state.OwnLogits);
        if (!logits.IsEmpty) state.OwnLogits.CopyTo(logits);
    }

    /// <summary>
    /// <see cref="Run"/> for tokens already checked, writing the last token's logits straight into <paramref name="logits"/>
    /// (V, or null for none): what a session stepped alone uses.
    /// </summary>
    internal static void RunInto(SequenceState state, ReadOnlySpan<int> tokens, float[]? logits)
    {
        var batch = state.OwnBatch;
        var team = state.Weights.Team;
        bool shared = team.TryEnter();
        try
        {
            for (int start = 0; start < tokens.Length; start += SequenceState.MaxBatch)
            {
                var chunk = tokens.Slice(start, Math.Min(SequenceState.MaxBatch, tokens.Length - start));
                batch.Clear();
                batch.Add(state, chunk, start + chunk.Length == tokens.Length ? logits : null);
                Step(batch, shared ? team : null);
            }
        }
        finally
        {
            batch.Clear();
            if (shared) team.Exit();
        }
    }

    /// <summary>The checks every entry point makes before a token reaches the engine.</summary>
    internal static void CheckCall(BitLlamaConfig c, ReadOnlySpan<int> tokens, ReadOnlySpan<float> logits)
    {
        if (tokens.Length > MaxTokensPerCall)
            throw new ArgumentException($"{tokens.Length} tokens in one call exceed the limit of {MaxTokensPerCall}; feed them in parts", nameof(tokens));
        for (int i = 0; i < tokens.Length; i++)
            if ((uint)tokens[i] >= (uint)c.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {tokens[i]} at position {i} is outside the vocabulary [0, {c.VocabSize})");
        if (!logits.IsEmpty && logits.Length != c.VocabSize)
            throw new ArgumentException($"logits buffer holds {logits.Length} values, the vocabulary has {c.VocabSize}", nameof(logits));
        if (tokens.IsEmpty && !logits.IsEmpty) throw new ArgumentException("no tokens to compute logits for", nameof(tokens));
    }

    /// <summary>
    /// One forward step over every sequence in <paramref name="b"/>: advances each sequence's state and position by its
    /// rows and writes the logits of its last row where it asked for them. <paramref name="team"/> (held by the caller)
    /// splits the stages across cores; null runs everything on the calling thread, with the same results.
    /// </summary>
    internal static void Step(StepBatch b, WorkerTeam? team)
    {
        var wts = b.Weights;
        var c = wts.Config;
        int N = b.Rows, dim = c.HiddenDim, inter = c.IntermediateDim;
        if (N == 0) return;
        var jobs = b.Jobs;
        for (int r = 0; r < N; r++) wts.EmbedRow(b.Tokens[r], b.Hidden.AsSpan(r * dim, dim));   // (N) -> (N, D)
        var h = b.Hidden.AsSpan(0, N * dim);
        var o = b.SubLayerOut.AsSpan(0, N * dim);
        for (int i = 0; i < c.NumLayers; i++)
        {
            var l = wts.Layers[i];
            Norm(b, team, l.Norm1);                                                   // (N, D), and its int8 copy
            if (l.Delta is { } delta) DeltaLayer.Run(b, team, i, delta);              // (N, D) -> (N, D) in SubLayerOut
            else ReconstructLayer.Run(b, team, i, l.Reconstruct!);
            TensorPrimitives.Add(h, o, h);                                            // h = h + ttt(norm1(h))
            Norm(b, team, l.Norm2);
            jobs.Gemm.Set(b.NormedInt8, l.GateProj, b.Gate, l.UpProj, b.Up);         // (N, D) -> (N, I) x 2
            RunGemm(team, jobs.Gemm);
            jobs.SwiGlu.Items = Items(team, N);
            Parallel(team, jobs.SwiGlu, jobs.SwiGlu.Items, (long)N * inter * 8);       // silu(gate)·up, and its int8 copy
            b.SwiGluInt8.SetCount(N);
            jobs.Gemm.Set(b.SwiGluInt8, l.DownProj, b.SubLayerOut);                   // (N, I) -> (N, D)
            RunGemm(team, jobs.Gemm);
            TensorPrimitives.Add(h, o, h);                                            // h = h + mlp(norm2(h))
        }
        jobs.Gemm.Clear();
        for (int s = 0; s < b.Sequences; s++) b.State(s).Position += b.Count(s);
        LmHead(b, team);
    }

    /// <summary>rmsnorm(h, weight) → Normed and NormedInt8, by row ranges.</summary>
    static void Norm(StepBatch b, WorkerTeam? team, float[] weight)
    {
        var job = b.Jobs.Norm;
        job.Weight = weight;
        job.Items = Items(team, b.Rows);
        Parallel(team, job, job.Items, (long)b.Rows * weight.Length * 8);
        b.NormedInt8.SetCount(b.Rows);
    }

    /// <summary>The int8 copy of <paramref name="rows"/> rows, by row ranges.</summary>
    internal static void QuantizeRows(WorkerTeam? team, StepJobs.QuantizeJob job, int rows)
    {
        job.Rows = rows;
        job.Items = Items(team, rows);
        Parallel(team, job, job.Items, (long)rows * job.Target.Cols * 4);
        job.Target.SetCount(rows);
    }

    /// <summary>A GEMM stage, split into ranges of row blocks when large enough.</summary>
    internal static void RunGemm(WorkerTeam? team, StepJobs.GemmJob job)
    {
        job.Items = team is null || job.Work < ParallelWork ? 1 : Math.Min(job.Blocks, 4 * team.Size);
        Parallel(team, job, job.Items, job.Work);
    }

    /// <summary>Runs a stage's items on the team when <paramref name="work"/> pays for it, else here, in order.</summary>
    internal static void Parallel(WorkerTeam? team, ITeamJob job, int items, long work)
    {
        if (team is null || items <= 1 || work < ParallelWork)
            for (int i = 0; i < items; i++) job.Run(i);
        else team.Run(job, items);
    }

    /// <summary>Row ranges for a row-wise stage: two per thread, at least 8 rows each.</summary>
    static int Items(WorkerTeam? team, int rows) => team is null ? 1 : Math.Clamp(rows / 8, 1, 2 * team.Size);

    /// <summary><see cref="Items"/> for the layers' row-wise stages.</summary>
    internal static int RowItems(WorkerTeam? team, int rows) => Items(team, rows);

    /// <summary>rmsnorm(h, norm_f) of each wanted row, its 16-bit copy, then the head into the sequences' logits.</summary>
    static void LmHead(StepBatch b, WorkerTeam? team)
    {
        var c = b.Weights.Config;
        int dim = c.HiddenDim, m = 0;
        b.HeadInput.Clear();
        for (int s = 0; s < b.Sequences; s++)
        {
            if (b.LogitsOf(s) is not { } destination) continue;
            int row = b.Start(s) + b.Count(s) - 1;
            var normed = b.FinalNormed.AsSpan(m * dim, dim);
            RmsNorm(b.Hidden.AsSpan(row * dim, dim), b.Weights.NormF, c.RmsNormEps, normed, 1);   // (D)
            b.HeadInput.QuantizeRow(normed, m);
            b.HeadOutputs[m++] = destination;
        }
        if (m == 0) return;
        var job = b.Jobs.Head;
        long work = (long)m * c.VocabSize * dim;
        job.Items = team is null || work < ParallelWork ? 1 : Math.Min(job.Blocks, 4 * team.Size);
        Parallel(team, job, job.Items, work);                                                      // (M, D) -> (M, V)
    }

    /// <summary>
    /// Feeds <paramref name="tokens"/> like <see cref="Run"/> and hands the logits (V) after every token to
    /// <paramref name="onLogits"/> with the token's index (the buffer is reused: copy what you keep). For scoring text.
    /// </summary>
    public static void RunEach(SequenceState state, ReadOnlySpan<int> tokens, Action<int, float[]> onLogits)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(onLogits);
        var logits = new float[state.Weights.Config.VocabSize];
        for (int t = 0; t < tokens.Length; t++)
        {
            Run(state, tokens.Slice(t, 1), logits);
            onLogits(t, logits);
        }
    }

    /// <summary>
    /// Feeds <paramref name="tokens"/> like <see cref="Run"/> and writes each token's final hidden state,
    /// rmsnorm(h, norm_f) — the vector the LM head reads (docs/model.md §3) — to <paramref name="hidden"/> (T, D);
    /// the logits of the last token go to <paramref name="logits"/> (V) unless it is empty. The rows are computed in
    /// the same chunks and steps as <see cref="Run"/>, so the state and logits after it are those after <see cref="Run"/>.
    /// </summary>
    public static void RunHidden(SequenceState state, ReadOnlySpan<int> tokens, Span<float> hidden, Span<float> logits)
    {
        ArgumentNullException.ThrowIfNull(state);
        var c = state.Weights.Config;
        CheckCall(c, tokens, logits);
        int dim = c.HiddenDim;
        if (hidden.Length != tokens.Length * dim)
            throw new ArgumentException($"hidden buffer holds {hidden.Length} values, expected {tokens.Length} tokens x {dim}", nameof(hidden));
        if (tokens.IsEmpty) return;
        var batch = state.OwnBatch;
        var team = state.Weights.Team;
        bool shared = team.TryEnter();
        try
        {
            for (int start = 0; start < tokens.Length; start += SequenceState.MaxBatch)
            {
                var chunk = tokens.Slice(start, Math.Min(SequenceState.MaxBatch, tokens.Length - start));
                bool last = start + chunk.Length == tokens.Length;
                batch.Clear();
                batch.Add(state, chunk, last && !logits.IsEmpty ? state.OwnLogits : null);
                Step(batch, shared ? team : null);
                // The step leaves the chunk's final residual rows (one sequence: rows 0…n-1) in batch.Hidden.
                RmsNorm(batch.Hidden.AsSpan(0, chunk.Length * dim), state.Weights.NormF, c.RmsNormEps,
                    hidden.Slice(start * dim, chunk.Length * dim), chunk.Length);                              // (T, D)
            }
        }
        finally
        {
            batch.Clear();
            if (shared) team.Exit();
        }
        if (!logits.IsEmpty) state.OwnLogits.CopyTo(logits);
    }

    /// <summary>y = W x for a full-precision (R, C) matrix, split across the cores when large (a benchmark's yardstick).</summary>
    public static void FullPrecisionGemv(float[] matrix, float[] x, float[] y)
    {
        if (matrix.LongLength != (long)x.Length * y.Length)
            throw new ArgumentException($"matrix has {matrix.LongLength} values, expected {y.Length} x {x.Length}", nameof(matrix));
        int cols = x.Length, rows = y.Length, parts = (long)rows * cols < ParallelWork ? 1 : Environment.ProcessorCount;
        System.Threading.Tasks.Parallel.For(0, parts, p =>
        {
            for (int r = rows * p / parts; r < rows * (p + 1) / parts; r++) y[r] = TensorPrimitives.Dot(matrix.AsSpan(r * cols, cols), x);
        });
    }

    /// <summary>Row-wise x / sqrt(mean(x²) + eps) * w over T rows of length D.</summary>
    internal static void RmsNorm(ReadOnlySpan<float> x, float[] weight, float eps, Span<float> y, int rows)
    {
        int dim = weight.Length;
        for (int t = 0; t < rows; t++)
        {
            var xr = x.Slice(t * dim, dim);
            var yr = y.Slice(t * dim, dim);
            float inv = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(xr) / dim + eps);
            TensorPrimitives.Multiply(xr, inv, yr);
            TensorPrimitives.Multiply(yr, weight, yr);
        }
    }

    /// <summary>One row: gate = silu(gate) · up = σ(gate) · gate · up, in three vectorized passes; up is overwritten.</summary>
    internal static void SiluMul(Span<float> gate, Span<float> up)
    {
        TensorPrimitives.Multiply(gate, up, up);        // g·u
        TensorPrimitives.Sigmoid(gate, gate);           // σ(g)
        TensorPrimitives.Multiply(gate, up, gate);      // σ(g)·g·u
    }
}
