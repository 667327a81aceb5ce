using System.Numerics.Tensors;
using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Engine;

/// <summary>
/// The LM head GEMV of one session, y = W x with W (V, D) in fp32 (or its optional int8 copy), split in
/// two halves when it is large:
/// the second half is offered to the thread pool, the caller computes the first and then takes the
/// second itself if no pool thread has picked it up yet (so a busy machine never makes it wait).
/// Unlike <c>Parallel.For</c> this allocates nothing per token: the work item is this object.
/// Ordering rule: the split partitions rows, never a row's sum; each y_r is one whole-row reduction in the
/// same order as the unsplit call, so the result is bit-identical whichever thread runs which half
/// (pinned by EngineTests.SplitLmHeadEqualsTheUnsplitRowsBitForBit for the fp32 and int8 heads).
/// Shape key (docs/model.md): V = vocab, D = hidden.
/// </summary>
internal sealed class SplitGemv : IThreadPoolWorkItem
{
    /// <summary>Below this many multiply-adds the split costs more than it saves.</summary>
    public const long SplitThreshold = 1L << 20;

    const int Queued = 0, Taken = 1, Done = 2;

    readonly float[]? _matrix;      // (V, D) fp32, or
    readonly Int8RowMatrix? _int8;  // (V, D) int8 with a scale per row
    readonly float[] _x;            // (D)
    readonly float[] _y;            // (V)
    int _state = Done;

    public SplitGemv(float[] matrix, float[] x, float[] y)
    {
        _matrix = matrix;
        _x = x;
        _y = y;
    }

    public SplitGemv(Int8RowMatrix matrix, float[] x, float[] y)
    {
        _int8 = matrix;
        _x = x;
        _y = y;
    }

    /// <summary>Computes <c>y = W x</c> into the buffer given at construction.</summary>
    public void Run()
    {
        int rows = _y.Length;
        if ((long)rows * _x.Length < SplitThreshold || Environment.ProcessorCount == 1)
        {
            Rows(0, rows);
            return;
        }
        Volatile.Write(ref _state, Queued);
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        Rows(0, rows / 2);
        if (Interlocked.CompareExchange(ref _state, Taken, Queued) == Queued)
        {
            Rows(rows / 2, rows);              // nobody took it: do it here
            Volatile.Write(ref _state, Done);
            return;
        }
        var spin = new SpinWait();
        while (Volatile.Read(ref _state) != Done) spin.SpinOnce();
    }

    void IThreadPoolWorkItem.Execute()
    {
        if (Interlocked.CompareExchange(ref _state, Taken, Queued) != Queued) return;   // the caller took it
        Rows(_y.Length / 2, _y.Length);
        Volatile.Write(ref _state, Done);
    }

    void Rows(int start, int end)
    {
        if (_int8 is not null)
        {
            _int8.Gemv(_x, _y, start, end);
            return;
        }
        int cols = _x.Length;
        for (int r = start; r < end; r++) _y[r] = TensorPrimitives.Dot(_matrix.AsSpan(r * cols, cols), _x);
    }
}
