using BitTtt.MLNet;
using Microsoft.ML;

namespace BitTtt.MLNet.Tests;

/// <summary>The trainer checks its schema and options before any row is read.</summary>
[TestClass]
public sealed class EarlyErrorTests
{
    [TestMethod]
    public void SchemaAndOptionErrors_ComeBeforeAnyRowIsRead()
    {
        // SchemaShape.Create is internal to ML.NET, so the check runs through Fit on a view whose cursors
        // fail: the errors below must come from GetOutputSchema, before any data is touched.
        var ml = new MLContext(seed: 1);
        var text = new UnreadableView(ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "x" } }));

        // The simple overload forwards its arguments: the named column and the shape are what get checked.
        var missing = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.BitLlama("Ids", hiddenDim: 16, numLayers: 1, maxSteps: 3).Fit(text));
        StringAssert.Contains(missing.Message, "Could not find input column 'Ids'");
        var wrongType = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.BitLlama("Text", hiddenDim: 16).Fit(text));
        StringAssert.Contains(wrongType.Message, "Schema mismatch for input column 'Text': expected vector of UInt32, got String");
        var shape = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TokenizeForBitLlama(vocabSize: 320)
            .Append(ml.Transforms.BitLlama("Tokens", hiddenDim: 30)).Fit(text));
        Assert.AreEqual(nameof(BitLlamaOptions.HiddenDim), shape.ParamName);
        var steps = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TokenizeForBitLlama(vocabSize: 320)
            .Append(ml.Transforms.BitLlama(maxSteps: 0)).Fit(text));
        Assert.AreEqual(nameof(BitLlamaOptions.MaxSteps), steps.ParamName);
        var noText = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TokenizeForBitLlama(vocabSize: 320)
            .Append(ml.Transforms.BitLlama()).Fit(new UnreadableView(ml.Data.LoadFromEnumerable(new[] { new OtherRow() }))));
        StringAssert.Contains(noText.Message, "Could not find input column 'Text'");
        Assert.AreEqual(0, text.Cursors);
    }

    /// <summary>A view whose schema is readable but whose rows are not: any cursor is a test failure.</summary>
    sealed class UnreadableView(IDataView inner) : IDataView
    {
        public int Cursors;
        public bool CanShuffle => inner.CanShuffle;
        public DataViewSchema Schema => inner.Schema;
        public long? GetRowCount() => null;

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            Interlocked.Increment(ref Cursors);
            throw new AssertFailedException("a row was read before the schema and options were checked");
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
            [GetRowCursor(columnsNeeded, rand)];
    }

    sealed class OtherRow { public string Body { get; set; } = ""; }
}
