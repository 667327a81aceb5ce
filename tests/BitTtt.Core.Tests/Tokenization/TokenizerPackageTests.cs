using BitTtt.Core.Tests.Formats;
using BitTtt.Formats;
using BitTtt.Tokenization;

namespace BitTtt.Core.Tests.Tokenization;

/// <summary>The tokenizer.json a tokenizer writes survives a .bitt file and a model directory.</summary>
[TestClass]
public sealed class TokenizerPackageTests
{
    [TestMethod]
    public void TrainedAndGpt2TokenizersLoadBackFromPackages()
    {
        var trained = BitLlamaTokenizer.FromJson(BpeTrainer.TrainFromTexts(["the whale, the sea; こんにちは 🐋 the ship"], new BpeTrainerOptions { VocabSize = 280, MinFrequency = 1 }));
        foreach (var tokenizer in new[] { trained, BitLlamaTokenizer.Gpt2() })
        {
            using var dir = new TempDir();
            var config = TinyModels.Config(vocab: tokenizer.VocabSize, dim: 16);
            var weights = RandomModel.Weights(config);
            ModelPackage.WriteBitt(dir.File("m.bitt"), config, tokenizer.ToJson(), weights);
            ModelPackage.WriteDirectory(dir.File("m"), config, tokenizer.ToJson(), weights);
            foreach (string path in new[] { dir.File("m.bitt"), dir.File("m") })
            {
                using var package = ModelPackage.Open(path);
                var loaded = BitLlamaTokenizer.FromJson(package.TokenizerJson!, path);
                Assert.AreEqual(tokenizer.VocabSize, loaded.VocabSize);
                foreach (string s in TokenizerTestData.HardStrings)
                {
                    CollectionAssert.AreEqual(tokenizer.Encode(s), loaded.Encode(s), $"{path}: {s}");
                    Assert.AreEqual(s, loaded.Decode(loaded.Encode(s)));
                }
            }
        }
    }
}
