using System.Text;
using BitTtt.Tokenization;

namespace BitTtt.Core.Tests.Tokenization;

/// <summary>The incremental merge learner against the obvious one: recount every pair of every word before each merge.</summary>
[TestClass]
public sealed class BpeReferenceTests
{
    private static BpeMerges SlowLearn(IReadOnlyDictionary<string, long> wordCounts, BpeTrainerOptions options)
    {
        var (tokenBytes, byBytes) = BpeMergeLearner.InitialVocabulary();
        var words = wordCounts.Select(kv => (Symbols: Encoding.UTF8.GetBytes(kv.Key).Select(b => 3 + b).ToList(), Freq: kv.Value)).ToList();
        var merges = new List<(int, int)>();
        while (tokenBytes.Count < options.VocabSize)
        {
            var counts = new Dictionary<(int, int), long>();
            foreach (var (syms, freq) in words)
            {
                for (int i = 0; i + 1 < syms.Count; i++) counts[(syms[i], syms[i + 1])] = counts.GetValueOrDefault((syms[i], syms[i + 1])) + freq;
            }
            if (counts.Count == 0) break;
            var best = counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key.Item1).ThenBy(kv => kv.Key.Item2).First();
            if (best.Value < options.MinFrequency) break;
            var (left, right) = best.Key;
            int merged = BpeMergeLearner.AddToken(tokenBytes, byBytes, left, right);
            merges.Add((left, right));
            foreach (var (syms, _) in words)
            {
                var output = new List<int>();
                for (int i = 0; i < syms.Count;)
                {
                    if (i + 1 < syms.Count && syms[i] == left && syms[i + 1] == right) { output.Add(merged); i += 2; }
                    else output.Add(syms[i++]);
                }
                syms.Clear();
                syms.AddRange(output);
            }
        }
        return new BpeMerges(tokenBytes, merges);
    }

    [TestMethod]
    public void IncrementalLearnerMatchesRescanningLearnerOnRandomCorpora()
    {
        var random = new Random(1234);
        string[] alphabets = ["ab", "abc ", "aab\n", "xyz é🐋", "abcdefgh  \t"];
        for (int trial = 0; trial < 60; trial++)
        {
            string alphabet = alphabets[trial % alphabets.Length];
            var texts = new List<string>();
            for (int t = 0, n = random.Next(1, 4); t < n; t++)
            {
                var sb = new StringBuilder();
                for (int i = 0, len = random.Next(0, 400); i < len; i++)
                {
                    var e = StringInfoElements(alphabet);
                    sb.Append(e[random.Next(e.Length)]);
                }
                texts.Add(sb.ToString());
            }
            var counter = new CorpusWordCounter();
            foreach (string t in texts) counter.AddText(t);
            var options = new BpeTrainerOptions { VocabSize = 259 + random.Next(1, 60), MinFrequency = 1 + random.Next(3), ChatTokens = false };
            var fast = BpeMergeLearner.Learn(counter.Counts, options);
            var slow = SlowLearn(counter.Counts, options);
            CollectionAssert.AreEqual(slow.Merges.ToList(), fast.Merges.ToList(), $"trial {trial}: {string.Join(" | ", texts)}");
            Assert.AreEqual(slow.TokenBytes.Count, fast.TokenBytes.Count);
            for (int id = 3; id < slow.TokenBytes.Count; id++) CollectionAssert.AreEqual(slow.TokenBytes[id], fast.TokenBytes[id]);
        }
    }

    private static string[] StringInfoElements(string s)
    {
        var list = new List<string>();
        var e = System.Globalization.StringInfo.GetTextElementEnumerator(s);
        while (e.MoveNext()) list.Add((string)e.Current);
        return [.. list];
    }

    [TestMethod]
    public void MergeInPlaceReplacesNonOverlappingLeftToRight()
    {
        var syms = new List<int> { 1, 1, 1, 2, 1, 1, 1, 1 };
        BpeMergeLearner.MergeInPlace(syms, 1, 1, 9);
        CollectionAssert.AreEqual(new[] { 9, 1, 2, 9, 9 }, syms);
    }
}
