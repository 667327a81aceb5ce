using BitTtt.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace BitTtt.MLNet.Tests;

/// <summary>
/// Training on a text column that TextLoader cut at its separator warns through MLContext.Log; whole lines, and a file
/// whose text is deliberately another field, do not. The check reads ML.NET 5.0.1 internals: these tests pin them.
/// </summary>
[TestClass]
public sealed class LoaderCheckTests
{
    static string Write(params string[] lines)
    {
        string path = TinyCorpus.NewPath("export.tsv");
        File.WriteAllLines(path, lines);
        return path;
    }

    static readonly string[] Export =
    [
        .. File.ReadLines(TinyCorpus.TextPath).Where(l => l.Length > 0).Take(6),
        "Order 123\tshipped to Contoso\tpaid",
        "Order 124\tshipped to Fabrikam\tunpaid",
        "",
        "// exported by the shop system",
        .. File.ReadLines(TinyCorpus.TextPath).Where(l => l.Length > 0).Skip(6).Take(4),
    ];

    static List<string> TokenizerWarnings(MLContext ml, IDataView data)
    {
        var warnings = new List<string>();
        ml.Log += (_, e) => { if (e.Kind == ChannelMessageKind.Warning && e.Source.StartsWith("BitLlama", StringComparison.Ordinal)) lock (warnings) warnings.Add(e.Message); };
        ml.Transforms.TokenizeForBitLlama(vocabSize: 300).Fit(data);
        return warnings;
    }

    [TestMethod]
    public void ALoaderThatCutLinesAtTabs_IsNamedInAWarning_WithTheWholeLineCall()
    {
        var ml = new MLContext(seed: 1);
        string path = Write(Export);
        var warnings = TokenizerWarnings(ml, ml.Transforms.Text.NormalizeText("Other", "Text").Fit(ml.Data.LoadFromTextFile<TextRow>(path))
            .Transform(ml.Data.LoadFromTextFile<TextRow>(path)));   // a transform between the loader and the tokenizer
        Assert.HasCount(2, warnings, string.Join("\n", warnings));
        StringAssert.Contains(warnings[0], "Column 'Text' looks cut by its loader: 2 of the first 12 rows are shorter than the line of");
        StringAssert.Contains(warnings[0], "'Order 123\\tshipped to Contoso\\tpaid' was read as 'Order 123'");
        StringAssert.Contains(warnings[0], "mlContext.Data.LoadTextLines(path)");
        StringAssert.Contains(warnings[1], "1 lines of");
        StringAssert.Contains(warnings[1], "starting with // are missing");
    }

    [TestMethod]
    public void WholeLines_AndAFieldLoadedOnPurpose_GiveNoWarning()
    {
        var ml = new MLContext(seed: 1);
        string path = Write(Export);
        Assert.IsEmpty(TokenizerWarnings(ml, ml.Data.LoadTextLines(path)));

        string tsv = Write(["Id\tText", .. Export.Where(l => l.Length > 0 && !l.StartsWith("//")).Select((l, i) => $"{i}\t{l.Replace('\t', ' ')}")]);
        var fields = ml.Data.LoadFromTextFile(tsv, [new TextLoader.Column("Id", DataKind.Int32, 0), new TextLoader.Column("Text", DataKind.String, 1)], hasHeader: true);
        Assert.IsEmpty(TokenizerWarnings(new MLContext(seed: 1), fields));
        Assert.IsEmpty(TokenizerWarnings(new MLContext(seed: 1), ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath)), "no tabs, nothing cut");
    }
}
