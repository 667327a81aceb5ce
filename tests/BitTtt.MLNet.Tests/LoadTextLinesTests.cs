using BitTtt.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet.Tests;

/// <summary>
/// Loading text loses nothing with mlContext.Data.LoadTextLines, and what LoadFromTextFile&lt;TextRow&gt; loses is what
/// docs/mlnet.md ("Loading text") says it loses.
/// </summary>
[TestClass]
public sealed class LoadTextLinesTests
{
    static readonly string[] Lines =
    [
        "Order 123\tshipped to Contoso\tpaid",
        "",
        "\"quoted, with a comma\" and \"more\"",
        "say \"hi\" there; a lone \" quote",
        "   leading spaces and trailing  ",
        "\t\ttwo tabs first",
        "// a line TextLoader reads as a comment",
        "# not a comment",
        "naïve café — 你好 🎉",
        "last",
    ];

    static string WriteFile(string newline = "\n")
    {
        string path = TinyCorpus.NewPath("lines.txt");
        File.WriteAllText(path, string.Join(newline, Lines) + newline);
        return path;
    }

    [TestMethod]
    [DataRow("\n")]
    [DataRow("\r\n")]
    public void LoadTextLines_KeepsEveryLineWhole(string newline)
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadTextLines(WriteFile(newline));
        CollectionAssert.AreEqual(Lines, data.GetColumn<string>("Text").ToArray());
        CollectionAssert.AreEqual(Lines, data.GetColumn<string>("Text").ToArray(), "a second cursor reads the file again");
        Assert.AreEqual(TextDataViewType.Instance, data.Schema["Text"].Type);
    }

    [TestMethod]
    public void LoadTextLines_NamesItsColumn_AndAMissingFile()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadTextLines(WriteFile(), columnName: "Body");
        CollectionAssert.AreEqual(Lines, data.GetColumn<string>("Body").ToArray());
        string missing = TinyCorpus.NewPath("missing.txt");
        StringAssert.Contains(Assert.ThrowsExactly<FileNotFoundException>(() => ml.Data.LoadTextLines(missing)).Message, missing);
    }

    [TestMethod]
    public void LoadFromTextFile_CutsAtTabs_SkipsEmptyAndCommentLines_AndTrimsLeadingSpaces()
    {
        var ml = new MLContext(seed: 1);
        var rows = ml.Data.LoadFromTextFile<TextRow>(WriteFile()).GetColumn<string>("Text").ToArray();
        CollectionAssert.AreEqual(new[]
        {
            "Order 123",
            "\"quoted, with a comma\" and \"more\"",
            "say \"hi\" there; a lone \" quote",
            "leading spaces and trailing  ",
            "",
            "# not a comment",
            "naïve café — 你好 🎉",
            "last",
        }, rows);
    }

    [TestMethod]
    public void TheWholeLinesFeedTheTokenizer()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadTextLines(WriteFile());
        var tokens = ml.Transforms.TokenizeForBitLlama(vocabSize: 300).Fit(data);
        var decoded = tokens.Transform(data).GetColumn<uint[]>("Tokens").Select(ids => tokens.Tokenizer.Decode(ids.Select(i => (int)i).ToArray())).ToArray();
        CollectionAssert.AreEqual(Lines, decoded);
    }
}
