using BitTtt.MLNet;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace BitTtt.MLNet.Tests;

/// <summary>The trainer warns through MLContext.Log when its text column was cut by TextLoader, and not for whole lines.</summary>
[TestClass]
public sealed class LoaderWarningTests
{
    static List<string> FitWarnings(MLContext ml, IDataView data)
    {
        var warnings = new List<string>();
        ml.Log += (_, e) => { if (e.Kind == ChannelMessageKind.Warning && e.Source == "BitLlama; Fit") lock (warnings) warnings.Add(e.Message); };
        var options = TinyPipeline.Options(maxSteps: 2);
        options.ValidationFraction = 0;
        using var _ = (IDisposable)TinyPipeline.Create(ml, options).Fit(data);
        return warnings;
    }

    [TestMethod]
    public void TrainingOnLinesCutAtTabs_Warns_AndOnWholeLinesDoesNot()
    {
        // Exported business data: every paragraph followed by tab-separated fields.
        string path = TinyCorpus.NewPath("export.tsv");
        File.WriteAllLines(path, File.ReadLines(TinyCorpus.TextPath).Where(l => l.Length > 0).Select((l, i) => $"{l}\tticket {i}\topen"));

        var ml = new MLContext(seed: 1);
        var cut = FitWarnings(ml, ml.Data.LoadFromTextFile<TextRow>(path));
        Assert.HasCount(1, cut, string.Join("\n", cut));
        StringAssert.Contains(cut[0], "Column 'Text' looks cut by its loader");
        StringAssert.Contains(cut[0], "LoadTextLines");

        Assert.IsEmpty(FitWarnings(new MLContext(seed: 1), ml.Data.LoadTextLines(path)));
    }
}
