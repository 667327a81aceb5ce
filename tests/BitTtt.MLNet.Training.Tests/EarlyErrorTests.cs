using BitTtt.MLNet;
using Microsoft.ML;

namespace BitTtt.MLNet.Tests;

/// <summary>The trainer checks its schema and options before any row is read.</summary>
[TestClass]
public sealed class EarlyErrorTests
{
    // SchemaShape.Create is internal to ML.NET, so each check runs through Fit on a view whose cursors fail:
    // the error must come from GetOutputSchema, before any data is touched.
    static ArgumentOutOfRangeException RejectedBeforeAnyRow<TRow>(Func<MLContext, IEstimator<ITransformer>> estimator, TRow row) where TRow : class
    {
        var ml = new MLContext(seed: 1);
        var view = new UnreadableView(ml.Data.LoadFromEnumerable(new[] { row }));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => estimator(ml).Fit(view));
        Assert.AreEqual(0, view.Cursors);
        return e;
    }

    static readonly TextRow Text = new() { Text = "x" };

    // The simple overload forwards its arguments: the named column and the shape are what get checked.
    [TestMethod]
    public void AMissingTokensColumnIsNamed() =>
        StringAssert.Contains(RejectedBeforeAnyRow(ml => ml.Transforms.BitLlama("Ids", hiddenDim: 16, numLayers: 1, maxSteps: 3), Text).Message,
            "Could not find input column 'Ids'");

    [TestMethod]
    public void ATextColumnWhereTokensBelongIsASchemaMismatch() =>
        StringAssert.Contains(RejectedBeforeAnyRow(ml => ml.Transforms.BitLlama("Text", hiddenDim: 16), Text).Message,
            "Schema mismatch for input column 'Text': expected vector of UInt32, got String");

    [TestMethod]
    public void AnInvalidShapeNamesTheOption() =>
        Assert.AreEqual(nameof(BitLlamaOptions.HiddenDim), RejectedBeforeAnyRow(ml => ml.Transforms.TokenizeForBitLlama(vocabSize: 320)
            .Append(ml.Transforms.BitLlama("Tokens", hiddenDim: 30)), Text).ParamName);

    [TestMethod]
    public void ZeroStepsNamesTheOption() =>
        Assert.AreEqual(nameof(BitLlamaOptions.MaxSteps), RejectedBeforeAnyRow(ml => ml.Transforms.TokenizeForBitLlama(vocabSize: 320)
            .Append(ml.Transforms.BitLlama(maxSteps: 0)), Text).ParamName);

    [TestMethod]
    public void AViewWithoutATextColumnIsNamedBeforeTokenizing() =>
        StringAssert.Contains(RejectedBeforeAnyRow(ml => ml.Transforms.TokenizeForBitLlama(vocabSize: 320)
            .Append(ml.Transforms.BitLlama()), new OtherRow()).Message, "Could not find input column 'Text'");

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
