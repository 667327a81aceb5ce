using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet;

/// <summary>
/// The output of <c>Transform</c> for the row-valued BitLlama transformers: the input's columns plus the added
/// Single columns (scalars or one fixed-size vector), computed in batches. A cursor that reads an added column
/// reads <see cref="BitLlamaTextColumnOptions.BatchSize"/> texts ahead through a second input cursor, computes them
/// across <see cref="BitLlamaTextColumnOptions.Threads"/> threads, then serves them row by row while the first
/// cursor serves the input's columns. Each row's values depend on its text alone (<see cref="RowMaps"/>), so the
/// result is the same for any batch size and thread count, and equal to the row-by-row mapping a
/// PredictionEngine uses. A cursor that reads no added column costs nothing extra.
/// The schema is the inner CustomMapping's (the input's columns in order, then the added ones).
/// </summary>
internal sealed class BatchedMappingView : IDataView
{
    /// <summary>An added column: its values are <c>Length</c> floats at <c>Offset</c> of a row's result.</summary>
    internal sealed record Added(string Name, int Offset, int Length, bool IsVector);

    readonly IDataView _input;
    readonly DataViewSchema.Column _text;
    readonly Func<string?, float[]> _map;
    readonly Added[] _added;
    readonly int _batch, _threads;

    public BatchedMappingView(IDataView input, DataViewSchema outputSchema, string textColumn, Added[] added,
        Func<string?, float[]> map, int batchSize, int threads)
    {
        _input = input;
        Schema = outputSchema;
        _text = input.Schema[textColumn];
        _added = added;
        _map = map;
        _batch = batchSize;
        _threads = threads;
        if (outputSchema.Count != input.Schema.Count + added.Length)
            throw new InvalidOperationException($"Expected {input.Schema.Count} input columns and {added.Length} added ones, the output schema has {outputSchema.Count}.");
        for (int i = 0; i < added.Length; i++)
            if (outputSchema[input.Schema.Count + i].Name != added[i].Name)
                throw new InvalidOperationException($"Expected added column '{added[i].Name}' at position {input.Schema.Count + i}, found '{outputSchema[input.Schema.Count + i].Name}'.");
    }

    public DataViewSchema Schema { get; }

    /// <summary>Both cursors must see the rows in the same order, so this view is never shuffled.</summary>
    public bool CanShuffle => false;

    public long? GetRowCount() => _input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.ToList();
        int inputs = _input.Schema.Count;
        var inputColumns = needed.Where(c => c.Index < inputs).Select(c => _input.Schema[c.Index]).ToList();
        bool[] addedActive = _added.Select((_, i) => needed.Any(c => c.Index == inputs + i)).ToArray();
        var main = _input.GetRowCursor(inputColumns);
        var ahead = addedActive.Any(a => a) ? _input.GetRowCursor([_text]) : null;
        return new Cursor(this, main, ahead, addedActive);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];   // the parallelism is inside the cursor's batches

    float[][] Compute(string?[] texts, int count)
    {
        var results = new float[count][];
        try
        {
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = _threads }, i => results[i] = _map(texts[i]));
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        return results;
    }

    sealed class Cursor : DataViewRowCursor
    {
        readonly BatchedMappingView _view;
        readonly DataViewRowCursor _main;
        readonly DataViewRowCursor? _ahead;
        readonly ValueGetter<ReadOnlyMemory<char>>? _text;
        readonly bool[] _addedActive;
        readonly string?[] _texts;
        float[][] _results = [];
        int _index = -1;

        public Cursor(BatchedMappingView view, DataViewRowCursor main, DataViewRowCursor? ahead, bool[] addedActive)
        {
            _view = view;
            _main = main;
            _ahead = ahead;
            _addedActive = addedActive;
            _text = ahead?.GetGetter<ReadOnlyMemory<char>>(view._text);
            _texts = new string?[ahead is null ? 0 : view._batch];
        }

        public override DataViewSchema Schema => _view.Schema;
        public override long Position => _main.Position;
        public override long Batch => _main.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => _main.GetIdGetter();

        public override bool MoveNext()
        {
            if (!_main.MoveNext()) return false;
            if (_ahead is null) return true;
            if (++_index >= _results.Length) Fill();
            return true;
        }

        /// <summary>Reads the next batch of texts and computes them; the main cursor has just moved to its first row.</summary>
        void Fill()
        {
            int count = 0;
            ReadOnlyMemory<char> value = default;
            while (count < _texts.Length && _ahead!.MoveNext())
            {
                _text!(ref value);
                _texts[count++] = value.IsEmpty ? "" : value.ToString();
            }
            if (count == 0)
                throw new InvalidOperationException("The input view gave a second cursor fewer rows than the first: BitLlama columns need an input that reads the same rows every time.");
            _results = _view.Compute(_texts, count);
            Array.Clear(_texts);
            _index = 0;
        }

        public override bool IsColumnActive(DataViewSchema.Column column)
        {
            int inputs = _view._input.Schema.Count;
            return column.Index < inputs ? _main.IsColumnActive(_view._input.Schema[column.Index]) : _addedActive[column.Index - inputs];
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            int inputs = _view._input.Schema.Count;
            if (column.Index < inputs) return _main.GetGetter<TValue>(_view._input.Schema[column.Index]);
            int a = column.Index - inputs;
            if (!_addedActive[a]) throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created.");
            var added = _view._added[a];
            Delegate getter = added.IsVector
                ? (ValueGetter<VBuffer<float>>)((ref VBuffer<float> dst) => Vector(added, ref dst))
                : (ValueGetter<float>)((ref float dst) => dst = Current()[added.Offset]);
            return getter as ValueGetter<TValue>
                ?? throw new InvalidOperationException($"Invalid TValue: '{typeof(TValue)}', expected type: '{(added.IsVector ? typeof(VBuffer<float>) : typeof(float))}' for column '{column.Name}'.");
        }

        float[] Current() => _index >= 0 && _index < _results.Length
            ? _results[_index]
            : throw new InvalidOperationException("The cursor is not on a row: call MoveNext first.");

        void Vector(Added added, ref VBuffer<float> dst)
        {
            var editor = VBufferEditor.Create(ref dst, added.Length);
            Current().AsSpan(added.Offset, added.Length).CopyTo(editor.Values);
            dst = editor.Commit();
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _main.Dispose();
                _ahead?.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
