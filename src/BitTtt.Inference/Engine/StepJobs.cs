using System.Numerics.Tensors;
using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Engine;

/// <summary>
/// The stages of a step as reusable <see cref="ITeamJob"/>s (one object each, its fields set before every
/// stage), so a step splits across cores without allocating. Every item writes rows, blocks or heads of its
/// own, and computes them exactly as a one-item stage would: which thread runs it never changes a bit.
/// Shape key (docs/model.md): N = rows of the step, S = sequences, D = hidden, I = intermediate, V = vocab.
/// </summary>
internal sealed class StepJobs(StepBatch batch)
{
    public readonly NormJob Norm = new(batch);
    public readonly QuantizeJob Quantize = new();
    public readonly GemmJob Gemm = new();
    public readonly SwiGluJob SwiGlu = new(batch);
    public readonly DeltaJob Delta = new(batch);
    public readonly ReconstructJob Reconstruct = new(batch);
    public readonly HeadJob Head = new(batch);

    /// <summary>Item <paramref name="item"/> of <paramref name="items"/> covers [start, end) of <paramref name="total"/>.</summary>
    public static (int Start, int End) Range(int total, int item, int items) =>
        ((int)((long)total * item / items), (int)((long)total * (item + 1) / items));

    /// <summary>rmsnorm(h, weight) per row into Normed, and its int8 copy (one BitLinear input for the whole sub-layer).</summary>
    internal sealed class NormJob(StepBatch b) : ITeamJob
    {
        public float[] Weight = [];
        public int Items = 1;

        public void Run(int item)
        {
            var (start, end) = Range(b.Rows, item, Items);
            int dim = Weight.Length;
            Forward.RmsNorm(b.Hidden.AsSpan(start * dim, (end - start) * dim), Weight, b.Weights.Config.RmsNormEps,
                b.Normed.AsSpan(start * dim, (end - start) * dim), end - start);
            b.NormedInt8.QuantizeRange(b.Normed, start, end);
        }
    }

    /// <summary>The int8 copy of a (N, C) float buffer, by row ranges.</summary>
    internal sealed class QuantizeJob : ITeamJob
    {
        public float[] Source = [];
        public Int8Activations Target = null!;
        public int Rows, Items = 1;

        public void Run(int item)
        {
            var (start, end) = Range(Rows, item, Items);
            Target.QuantizeRange(Source, start, end);
        }
    }

    /// <summary>
    /// Up to three BitLinears over one int8 input (q, k, v or gate, up), split into ranges of 32-row blocks over all
    /// of them: (N, C) → (N, R) each.
    /// </summary>
    internal sealed class GemmJob : ITeamJob
    {
        readonly PackedTernaryMatrix?[] _matrices = new PackedTernaryMatrix?[3];
        readonly float[][] _outputs = new float[3][];
        int _count, _blocks;
        Int8Activations _input = null!;
        public int Items = 1;

        /// <summary>Total 32-row blocks of the stage.</summary>
        public int Blocks => _blocks;

        public void Set(Int8Activations input, PackedTernaryMatrix m0, float[] y0, PackedTernaryMatrix? m1 = null, float[]? y1 = null,
            PackedTernaryMatrix? m2 = null, float[]? y2 = null)
        {
            _input = input;
            (_matrices[0], _matrices[1], _matrices[2]) = (m0, m1, m2);
            (_outputs[0], _outputs[1], _outputs[2]) = (y0, y1!, y2!);
            _count = m2 is not null ? 3 : m1 is not null ? 2 : 1;
            _blocks = 0;
            for (int i = 0; i < _count; i++) _blocks += TernaryKernels.Blocks(_matrices[i]!);
        }

        /// <summary>Multiply-adds of the stage (for the decision to split it).</summary>
        public long Work => (long)_blocks * TernaryKernels.BlockRows * _matrices[0]!.PaddedCols * _input.Count;

        public void Run(int item)
        {
            var (start, end) = Range(_blocks, item, Items);
            int first = 0;
            for (int i = 0; i < _count && start < end; i++)
            {
                var m = _matrices[i]!;
                int blocks = TernaryKernels.Blocks(m);
                int from = Math.Max(start, first), to = Math.Min(end, first + blocks);
                if (from < to) TernaryKernels.GemmBlocks(m, _input, _outputs[i], from - first, to - first);
                first += blocks;
            }
        }

        public void Clear()
        {
            Array.Clear(_matrices);
            Array.Clear(_outputs);
            _input = null!;
        }
    }

    /// <summary>gate = silu(gate) · up per row, then its int8 copy (down_proj's input).</summary>
    internal sealed class SwiGluJob(StepBatch b) : ITeamJob
    {
        public int Items = 1;

        public void Run(int item)
        {
            var (start, end) = Range(b.Rows, item, Items);
            int inter = b.Weights.Config.IntermediateDim;
            for (int r = start; r < end; r++) Forward.SiluMul(b.Gate.AsSpan(r * inter, inter), b.Up.AsSpan(r * inter, inter));
            b.SwiGluInt8.QuantizeRange(b.Gate, start, end);
        }
    }

    /// <summary>
    /// The delta layer (docs/model.md §3b) in two stages: <see cref="Prepare"/> = row ranges (convolution, normalization,
    /// β: independent per row), else one (sequence, head) pair per item (the rule, token by token).
    /// </summary>
    internal sealed class DeltaJob(StepBatch b) : ITeamJob
    {
        public int Layer, Items = 1;
        public bool Prepare;
        public DeltaWeights Weights = null!;

        public void Run(int item)
        {
            if (Prepare)
            {
                var (start, end) = Range(b.Rows, item, Items);
                DeltaLayer.Prepare(b, Layer, Weights, start, end);
                return;
            }
            int heads = b.Weights.Config.TttHeads;
            DeltaLayer.Head(b, Layer, item / heads, item % heads);
        }
    }

    /// <summary>The reconstruct rule (docs/model.md §3a) of one (sequence, 16-row block of W and G) pair per item.</summary>
    internal sealed class ReconstructJob(StepBatch b) : ITeamJob
    {
        public int Layer, BlocksPerSequence = 1;

        public void Run(int item) => ReconstructLayer.Rows(b, Layer, item / BlocksPerSequence, item % BlocksPerSequence);
    }

    /// <summary>The LM head over the rows in HeadInput (int8) or FinalNormed (fp32), by ranges of vocabulary blocks.</summary>
    internal sealed class HeadJob(StepBatch b) : ITeamJob
    {
        public int Items = 1;

        /// <summary>Blocks the head is split by: 64 rows for the int8 head, 64 rows of dot products for fp32.</summary>
        public int Blocks => (b.Weights.Config.VocabSize + Int8RowMatrix.BlockRows - 1) / Int8RowMatrix.BlockRows;

        public void Run(int item)
        {
            var (start, end) = Range(Blocks, item, Items);
            if (b.Weights.LmHeadInt8 is { } q)
            {
                q.Gemm(b.HeadInput, b.HeadOutputs, start, end);
                return;
            }
            var head = b.Weights.LmHead!;
            int dim = b.Weights.Config.HiddenDim, vocab = b.Weights.Config.VocabSize;
            for (int m = 0; m < b.HeadInput.Count; m++)
            {
                var x = b.FinalNormed.AsSpan(m * dim, dim);
                var y = b.HeadOutputs[m];
                for (int r = start * Int8RowMatrix.BlockRows, last = Math.Min(vocab, end * Int8RowMatrix.BlockRows); r < last; r++)
                    y[r] = TensorPrimitives.Dot(head.AsSpan(r * dim, dim), x);
            }
        }
    }
}
