using System.Text;
using BitTtt.Evaluation;
using BitTtt.Training;

namespace BitTtt.Inference.Tests;

[TestClass]
public sealed class ModelEvaluatorTests
{
    static string _dir = null!;
    static Llama _trained = null!;
    static string _text = null!;

    static string Words(int seed, int sentences)
    {
        string[] words = ["the", "whale", "swam", "in", "sea", "calm", "and", "was", "white", "héllo", "wörld", "café"];
        var rng = new Random(seed);
        return string.Concat(Enumerable.Range(0, sentences).Select(_ => string.Join(' ', Enumerable.Range(0, 5).Select(_ => words[rng.Next(words.Length)])) + ".\n"));
    }

    [ClassInitialize]
    public static void TrainTinyModel(TestContext _)
    {
        _dir = TempFiles.NewDirectory();
        var tokenizer = TinyLlama.Tokenizer();
        _text = Words(1, 400);
        string tokens = Path.Combine(_dir, "train.bin");
        using (var writer = new TokenFileWriter(tokens)) { writer.Append(tokenizer.Encode(_text)); writer.Commit(); }
        using var train = TokenFile.Open(tokens);
        var options = TinyTrainer.Options(checkpoints: null, steps: 60);
        options.BatchSize = 8;
        var result = new BitLlamaTrainer(options, tokenizer.VocabSize).Train(train, null);
        _trained = Llama.FromWeights(result.Config, tokenizer, result.Weights);
    }

    [ClassCleanup]
    public static void Cleanup() => _trained.Dispose();

    /// <summary>Reference: one token at a time through a session, softmax written out.</summary>
    static double[] ReferenceLosses(Llama model, int[] ids)
    {
        using var session = model.CreateSession();
        var losses = new double[ids.Length - 1];
        for (int t = 0; t + 1 < ids.Length; t++)
        {
            float[] logits = session.Logits([ids[t]]);
            double z = logits.Sum(x => Math.Exp(x));
            losses[t] = -Math.Log(Math.Exp(logits[ids[t + 1]]) / z);
        }
        return losses;
    }

    [TestMethod]
    public void TokenLossesMatchAOneTokenAtATimeReference()
    {
        using var llama = TinyLlama.Create(seed: 5);
        foreach (int n in new[] { 2, 3, 33, 71 })   // around the engine's 32-token batches
        {
            var ids = TinyModels.RandomTokens(n, llama.Tokenizer.VocabSize, n);
            var fast = ModelEvaluator.TokenLosses(llama, ids);
            var reference = ReferenceLosses(llama, ids);
            Assert.AreEqual(n - 1, fast.Length);
            for (int t = 0; t < fast.Length; t++) Assert.AreEqual(reference[t], fast[t], 1e-4, $"n {n}, position {t}");
        }
    }

    [TestMethod]
    public void EvaluateReportsNatsBitsPerBytePerplexityCopyScoreAndBaselines()
    {
        string held = Words(2, 40);
        var r = ModelEvaluator.Evaluate(_trained, held, _text, new EvaluationOptions { CopyPassageTokens = 24 });
        var ids = _trained.Tokenizer.Encode(held);
        var losses = ReferenceLosses(_trained, ids);
        Assert.AreEqual(ids.Length, r.TextTokens);
        Assert.IsFalse(r.Truncated);
        Assert.AreEqual(losses.Average(), r.NatsPerToken, 1e-4);
        long bytes = Encoding.UTF8.GetByteCount(held) - _trained.Tokenizer.GetTokenBytes(ids[0]).Length;
        Assert.AreEqual(bytes, r.ScoredBytes);
        Assert.AreEqual(losses.Sum() / Math.Log(2) / bytes, r.BitsPerByte, 1e-4);
        Assert.AreEqual(Math.Exp(r.NatsPerToken), r.Perplexity, 1e-9);
        Assert.IsTrue(r.NatsPerToken < Math.Log(_trained.Tokenizer.VocabSize) - 1, $"trained model: {r.NatsPerToken} nats, uniform {Math.Log(_trained.Tokenizer.VocabSize)}");

        // Copy score: the first 24 tokens twice in one fresh sequence.
        var twice = ids[..24].Concat(ids[..24]).ToArray();
        var copyLosses = ReferenceLosses(_trained, twice);
        Assert.AreEqual(24, r.Copy.PassageTokens);
        Assert.AreEqual(copyLosses[..23].Average(), r.Copy.FirstCopyLoss, 1e-4);
        Assert.AreEqual(copyLosses[23..].Average(), r.Copy.SecondCopyLoss, 1e-4);
        Assert.AreEqual(r.Copy.SecondCopyLoss / r.Copy.FirstCopyLoss, r.Copy.Ratio, 1e-12);

        var expected = NGramBaselines.Measure(_trained.Tokenizer.Encode(_text), ids, _trained.Tokenizer.VocabSize);
        Assert.AreEqual(expected, r.Baselines);
        Assert.IsNull(ModelEvaluator.Evaluate(_trained, held).Baselines);
    }

    [TestMethod]
    public void MaxTokensCutsTheTextAndTheDefaultPassageIsTheContextLength()
    {
        var r = ModelEvaluator.Evaluate(_trained, _text, options: new EvaluationOptions { MaxTokens = 50 });
        Assert.AreEqual(50, r.TextTokens);
        Assert.IsTrue(r.Truncated);
        Assert.AreEqual(_trained.Config.ContextLen, r.Copy.PassageTokens);
        var ids = _trained.Tokenizer.Encode(_text)[..50];
        Assert.AreEqual(ModelEvaluator.TokenLosses(_trained, ids).Average(), r.NatsPerToken, 1e-12);
    }

    [TestMethod]
    public void FilesThatAreNotTextAreRefusedWithOneLineNamingTheFile()
    {
        string Write(string name, byte[] bytes)
        {
            string path = Path.Combine(_dir, name);
            File.WriteAllBytes(path, bytes);
            return path;
        }
        void Refused(string path, string expected)
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => ModelEvaluator.EvaluateFile(_trained, path));
            StringAssert.StartsWith(e.Message, path + ": ");
            StringAssert.Contains(e.Message, expected);
            Assert.IsFalse(e.Message.Contains('\n'), e.Message);
        }
        Refused(Write("empty.txt", []), "is empty");
        Refused(Write("nul.bin", [0x41, 0x42, 0, 0x43]), "NUL byte at offset 2");
        Refused(Write("latin1.txt", Encoding.Latin1.GetBytes("caf\u00e9 au lait")), "invalid UTF-8 at byte offset 3");
        Refused(Write("short.txt", "the whale"u8.ToArray()), "fewer than the 16");
        var missing = Assert.ThrowsExactly<FileNotFoundException>(() => ModelEvaluator.EvaluateFile(_trained, Path.Combine(_dir, "none.txt")));
        StringAssert.Contains(missing.Message, "none.txt");
        // A byte-order mark is not an error.
        string bom = Write("bom.txt", [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(Words(4, 10))]);
        Assert.AreEqual(_trained.Tokenizer.Encode(Words(4, 10)).Length, ModelEvaluator.EvaluateFile(_trained, bom).TextTokens);
    }
}
