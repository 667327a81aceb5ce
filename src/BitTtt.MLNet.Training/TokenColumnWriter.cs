using BitTtt.Tokenization;
using BitTtt.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet;

/// <summary>
/// Streams token rows from an IDataView cursor into on-disk token files (never the whole corpus in memory),
/// joining rows with the separator's tokens and checking ids against the vocabulary.
/// </summary>
internal sealed class TokenColumnWriter
{
    // Held-out rows come in runs of a few consecutive rows (paragraphs of a line-per-paragraph file).
    const int BlockRows = 4;

    readonly BitLlamaTokenizer _tokenizer;
    readonly int[] _separator;

    public TokenColumnWriter(BitLlamaTokenizer tokenizer, string separator)
    {
        _tokenizer = tokenizer;
        _separator = string.IsNullOrEmpty(separator) ? [] : tokenizer.Encode(separator);
    }

    public long Rows { get; private set; }

    /// <summary>
    /// Appends every row of <paramref name="column"/>; with <paramref name="heldOut"/>, each
    /// <paramref name="every"/>-th block of rows goes there instead of <paramref name="train"/>.
    /// </summary>
    public void Append(IDataView data, DataViewSchema.Column column, TokenFileWriter train, TokenFileWriter? heldOut, int every)
    {
        var item = ((VectorDataViewType)column.Type).ItemType;
        long rows = 0;   // rows with tokens: blank rows (empty lines of a file) do not move the held-out blocks
        using var cursor = data.GetRowCursor([column]);
        int[] ids = [];
        if (item == NumberDataViewType.UInt32)
        {
            var getter = cursor.GetGetter<VBuffer<uint>>(column);
            VBuffer<uint> buffer = default;
            while (cursor.MoveNext())
            {
                getter(ref buffer);
                int n = Dense(buffer.DenseValues(), ref ids, column.Name, cursor.Position);
                Route(ids.AsSpan(0, n));
            }
        }
        else
        {
            var getter = cursor.GetGetter<VBuffer<int>>(column);
            VBuffer<int> buffer = default;
            while (cursor.MoveNext())
            {
                getter(ref buffer);
                int n = Dense(buffer.DenseValues().Select(v => unchecked((uint)v)), ref ids, column.Name, cursor.Position);
                Route(ids.AsSpan(0, n));
            }
        }

        void Route(ReadOnlySpan<int> row)
        {
            if (row.IsEmpty) return;
            bool held = heldOut is not null && (rows++ / BlockRows) % every == every - 1;
            Write(held ? heldOut! : train, row);
        }
    }

    /// <summary>Tokenizes a text column (a validation set given as text) into <paramref name="destination"/>.</summary>
    public void AppendTexts(IDataView data, DataViewSchema.Column column, TokenFileWriter destination)
    {
        foreach (string text in TokenizeForBitLlamaEstimator.ReadTexts(data, column))
            Write(destination, _tokenizer.Encode(text));
    }

    void Write(TokenFileWriter writer, ReadOnlySpan<int> row)
    {
        if (row.IsEmpty) return;
        if (writer.Count > 0 && _separator.Length > 0) writer.Append(_separator);
        writer.Append(row);
        Rows++;
    }

    int Dense(IEnumerable<uint> values, ref int[] ids, string column, long row)
    {
        int n = 0;
        foreach (uint v in values)
        {
            if (v >= (uint)_tokenizer.VocabSize)
                throw new ArgumentException(
                    $"Column '{column}', row {row}: token id {v} is outside the tokenizer's vocabulary (size {_tokenizer.VocabSize}).");
            if (n == ids.Length) Array.Resize(ref ids, Math.Max(16, ids.Length * 2));
            ids[n++] = (int)v;
        }
        return n;
    }
}
