using BitTtt.Fuzz;

namespace BitTtt.Inference.Tests;

/// <summary>
/// Every file format a model loads, fed hostile input through the public API (benchmarks/Fuzz holds the
/// harness and the long-run mode): the committed regression files and a deterministic mutation run of each
/// format must give a BitLlamaFormatException or a model that works, never another exception, a lossy
/// tokenizer, a slow rejection or a memory bomb.
/// </summary>
[TestClass]
public sealed class FuzzTests
{
    // Inputs per format in the suite; the long run (docs/reliability.md) does a million.
    const int Inputs = 1500;

    static readonly string Corpus = Path.Combine(AppContext.BaseDirectory, "FuzzCorpus");
    static string s_work = "";
    static FuzzCampaign s_campaign = null!;

    [ClassInitialize]
    public static void Setup(TestContext _)
    {
        s_work = Directory.CreateTempSubdirectory("bitllama-fuzz-").FullName;
        s_campaign = new FuzzCampaign(Corpus, s_work);
        s_campaign.WarmUp();
    }

    [ClassCleanup]
    public static void Cleanup()
    {
        s_campaign.Dispose();
        Directory.Delete(s_work, recursive: true);
    }

    [TestMethod]
    [DataRow(FuzzFormat.Bitt)]
    [DataRow(FuzzFormat.Config)]
    [DataRow(FuzzFormat.Tokenizer)]
    [DataRow(FuzzFormat.SafeTensors)]
    [DataRow(FuzzFormat.Memory)]
    public void MutatedFilesAreRejectedOrWork(FuzzFormat format)
    {
        var s = s_campaign.Run(format, Inputs, seed: 20261201);
        Assert.AreEqual(0, s.Findings, string.Join("\n", s.FirstFindings));
        // The run must reach both outcomes, or the mutations are too weak (or too strong) to test anything.
        Assert.IsTrue(s.Rejected > Inputs / 10 && s.Accepted > 0, $"{s.Rejected} rejected, {s.Accepted} accepted");
    }

    public static IEnumerable<object[]> Regressions() =>
        Enum.GetValues<FuzzFormat>().SelectMany(f =>
        {
            string dir = Path.Combine(Corpus, "regressions", f.ToString().ToLowerInvariant());
            return Directory.Exists(dir) ? Directory.GetFiles(dir).Order().Select(p => new object[] { f, Path.GetFileName(p) }) : [];
        });

    [TestMethod]
    [DynamicData(nameof(Regressions))]
    public void RegressionFileIsHandled(FuzzFormat format, string name)
    {
        byte[] input = File.ReadAllBytes(Path.Combine(Corpus, "regressions", format.ToString().ToLowerInvariant(), name));
        var r = s_campaign.Targets.Run(format, input);
        Assert.AreNotEqual(FuzzVerdict.Finding, r.Verdict, r.Detail);
        // "accepted-*" files are valid but once hurt (a catastrophic regex, a 200 KB config field); the rest are bad input.
        Assert.AreEqual(name.StartsWith("accepted-", StringComparison.Ordinal) ? FuzzVerdict.Accepted : FuzzVerdict.Rejected, r.Verdict, r.Detail);
    }

    [TestMethod]
    public void SeedsLoadAndWork()
    {
        foreach (var format in Enum.GetValues<FuzzFormat>())
        {
            string dir = Path.Combine(Corpus, "seeds", format.ToString().ToLowerInvariant());
            foreach (var path in Directory.GetFiles(dir))
            {
                var r = s_campaign.Targets.Run(format, File.ReadAllBytes(path));
                // The the model contract's (docs/model.md) seed config (16384 x 256) cannot match the tiny seed weights: it must be rejected, clearly.
                var expected = Path.GetFileName(path) is "seed-example.json" or "delta.json" ? FuzzVerdict.Rejected : FuzzVerdict.Accepted;
                Assert.AreEqual(expected, r.Verdict, $"{path}: {r.Detail}");
            }
        }
    }

    [TestMethod]
    public void SameSeedSameInputs()
    {
        foreach (var format in Enum.GetValues<FuzzFormat>())
            for (int i = 0; i < 20; i++)
                CollectionAssert.AreEqual(s_campaign.Input(format, 7, i), s_campaign.Input(format, 7, i));
    }
}
