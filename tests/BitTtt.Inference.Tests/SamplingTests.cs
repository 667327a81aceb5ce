using BitTtt.Inference;
using BitTtt.Inference.Sampling;

namespace BitTtt.Inference.Tests;

[TestClass]
public sealed class SamplingTests
{
    [TestMethod]
    public void InvalidOptionsAreOptionErrorsNamingTheOption()
    {
        void Bad(SamplingOptions o, string name)
        {
            var e = Assert.ThrowsExactly<OptionException>(o.Validate);
            Assert.AreEqual(name, e.ParamName);
            Assert.AreEqual(name, e.Option);
            StringAssert.StartsWith(e.Message, name + " must ");
        }
        Bad(new SamplingOptions { Temperature = -0.1f }, "Temperature");
        Bad(new SamplingOptions { Temperature = float.NaN }, "Temperature");
        Bad(new SamplingOptions { TopP = 0 }, "TopP");
        Bad(new SamplingOptions { TopP = 1.01f }, "TopP");
        Bad(new SamplingOptions { TopK = -1 }, "TopK");
        Bad(new SamplingOptions { MaxTokens = 0 }, "MaxTokens");
        Bad(new SamplingOptions { RepetitionPenalty = 0 }, "RepetitionPenalty");
        Bad(new SamplingOptions { StopStrings = [""] }, "StopStrings");
        new SamplingOptions().Validate();
        new SamplingOptions { TopP = 1, TopK = 0, Temperature = 0 }.Validate();
        Assert.ThrowsExactly<OptionException>(() => new Sampler(new SamplingOptions { TopP = 2 }, 10));
    }

    [TestMethod]
    public void GreedyPicksTheArgMax()
    {
        var s = new Sampler(SamplingOptions.Greedy(), 5);
        Assert.AreEqual(3, s.Sample([0.1f, -2f, 0.5f, 3f, 2.9f], []));
    }

    [TestMethod]
    public void RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits()
    {
        var o = SamplingOptions.Greedy() with { RepetitionPenalty = 1.1f };
        Assert.AreEqual(1, new Sampler(o, 2).Sample([2f, 1.9f], [0, 0]));       // 2/1.1 = 1.82 < 1.9
        Assert.AreEqual(1, new Sampler(o, 2).Sample([-1f, -1.05f], [0]));       // -1*1.1 = -1.1 < -1.05
        Assert.AreEqual(0, new Sampler(o with { RepetitionPenalty = 1f }, 2).Sample([2f, 1.9f], [0]));
    }

    static float[] RandomLogits(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 6 - 3)).ToArray();
    }

    [TestMethod]
    public void SameSeedGivesTheSameDraws()
    {
        var logits = RandomLogits(300, 1);
        var o = new SamplingOptions { Temperature = 1.5f, TopK = 0, TopP = 1, Seed = 42, RepetitionPenalty = 1f };
        int[] Draw(SamplingOptions opt) { var s = new Sampler(opt, 300); return Enumerable.Range(0, 50).Select(_ => s.Sample(logits, [])).ToArray(); }
        CollectionAssert.AreEqual(Draw(o), Draw(o));
        CollectionAssert.AreNotEqual(Draw(o), Draw(o with { Seed = 43 }));
    }

    [TestMethod]
    public void TopKKeepsOnlyTheKBestAndFollowsTheSoftmax()
    {
        var logits = RandomLogits(1000, 2);
        var best = Enumerable.Range(0, 1000).OrderByDescending(i => logits[i]).Take(3).ToArray();
        var s = new Sampler(new SamplingOptions { Temperature = 1, TopK = 3, TopP = 1, Seed = 1, RepetitionPenalty = 1 }, 1000);
        var counts = new Dictionary<int, int>();
        const int draws = 20000;
        for (int i = 0; i < draws; i++) { int t = s.Sample(logits, []); counts[t] = counts.GetValueOrDefault(t) + 1; }
        CollectionAssert.IsSubsetOf(counts.Keys.ToArray(), best);
        double z = best.Sum(i => Math.Exp(logits[i]));
        foreach (var i in best)
            Assert.AreEqual(Math.Exp(logits[i]) / z, counts.GetValueOrDefault(i) / (double)draws, 0.02, $"token {i}");
        Assert.AreEqual(best[0], new Sampler(new SamplingOptions { Temperature = 5, TopK = 1, Seed = 3 }, 1000).Sample(logits, []));
    }

    [TestMethod]
    public void TopPKeepsTheSmallestNucleus()
    {
        // probabilities 0.5, 0.3, 0.2: top-p 0.6 keeps the first two, 0.5 only the first.
        float[] logits = [MathF.Log(0.2f), MathF.Log(0.5f), MathF.Log(0.3f)];
        var o = new SamplingOptions { Temperature = 1, TopK = 0, TopP = 0.6f, Seed = 7, RepetitionPenalty = 1 };
        var s = new Sampler(o, 3);
        var seen = Enumerable.Range(0, 2000).Select(_ => s.Sample(logits, [])).Distinct().Order().ToArray();
        CollectionAssert.AreEqual(new[] { 1, 2 }, seen);
        var only = new Sampler(o with { TopP = 0.5f }, 3);
        Assert.IsTrue(Enumerable.Range(0, 200).All(_ => only.Sample(logits, []) == 1));
    }

    [TestMethod]
    public void TopPOverALargeVocabularyKeepsExactlyTheNucleus()
    {
        // 5000 tokens; a peaked distribution (nucleus inside the sorted window) and a flat one (nucleus
        // larger than the window): every drawn token must be inside the nucleus computed the slow way.
        foreach (double spread in new[] { 12.0, 0.5 })
        {
            var rng = new Random(4);
            var logits = Enumerable.Range(0, 5000).Select(_ => (float)(rng.NextDouble() * spread)).ToArray();
            var order = Enumerable.Range(0, 5000).OrderByDescending(i => logits[i]).ThenBy(i => i).ToArray();
            double z = logits.Sum(l => Math.Exp(l - logits.Max()));
            var nucleus = new HashSet<int>();
            double cumulative = 0;
            foreach (var i in order)
            {
                nucleus.Add(i);
                cumulative += Math.Exp(logits[i] - logits.Max()) / z;
                if (cumulative >= 0.5) break;
            }
            var s = new Sampler(new SamplingOptions { Temperature = 1, TopK = 0, TopP = 0.5f, Seed = 2, RepetitionPenalty = 1 }, 5000);
            var drawn = Enumerable.Range(0, 3000).Select(_ => s.Sample(logits, [])).ToHashSet();
            Assert.IsTrue(drawn.IsSubsetOf(nucleus), $"spread {spread}: drew outside the nucleus of {nucleus.Count}");
            Assert.IsGreaterThan(nucleus.Count / 2, drawn.Count, $"spread {spread}: only {drawn.Count} of {nucleus.Count} nucleus tokens drawn");
        }
    }

    [TestMethod]
    public void StopStringsAreHeldBackAndNeverEmitted()
    {
        var f = new StopStringFilter(["END", "\n\n"]);
        Assert.AreEqual("Hello ", f.Append("Hello "));
        Assert.AreEqual("wor", f.Append("worE"));      // "E" may start "END": held back
        Assert.AreEqual("Eld", f.Append("ld"));
        Assert.AreEqual("", f.Append("\n"));
        Assert.AreEqual("", f.Append("\nx"));          // "\n\n" completed: stop, nothing after it
        Assert.IsTrue(f.Stopped);
        var g = new StopStringFilter(["END"]);
        Assert.AreEqual("ab", g.Append("abE") + g.Append("N") + g.Append("Dcd"));
        Assert.IsTrue(g.Stopped);
        Assert.AreEqual("", g.Append("more"));
        Assert.AreEqual("", g.Flush());
        var h = new StopStringFilter(["END"]);
        Assert.AreEqual("xyEN", h.Append("xyEN") + h.Flush());
        Assert.AreEqual("plain", new StopStringFilter([]).Append("plain"));
    }
}
