using BitTtt.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet.Tests;

/// <summary><c>inputColumnName: null</c> means "the same as the output column", as everywhere in ML.NET.</summary>
[TestClass]
public sealed class InputColumnTests
{
    [TestMethod]
    public void NullInputColumn_IsTheOutputColumn_InEveryOverload()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath);
        var tokenizerPath = TinyCorpus.NewPath("tokenizer.json");
        File.WriteAllText(tokenizerPath, RandomModel.DefaultTokenizerJson);

        var estimators = new IEstimator<TokenizeForBitLlamaTransformer>[]
        {
            ml.Transforms.TokenizeForBitLlama(outputColumnName: "Text", inputColumnName: null, vocabSize: TinyCorpus.VocabSize),
            ml.Transforms.TokenizeForBitLlama(new TokenizeForBitLlamaOptions { OutputColumnName = "Text", InputColumnName = null, VocabSize = TinyCorpus.VocabSize }),
            ml.Transforms.TokenizeForBitLlama(BitTtt.Tokenization.BitLlamaTokenizer.Gpt2().Inner, outputColumnName: "Text", inputColumnName: null),
            ml.Transforms.TokenizeForBitLlama("Text", null, tokenizerPath),
        };
        foreach (var estimator in estimators)
        {
            var model = estimator.Fit(data);
            Assert.AreEqual("Text", model.InputColumnName);
            var type = model.Transform(data).Schema["Text"].Type;
            Assert.AreEqual(NumberDataViewType.UInt32, (type as VectorDataViewType)?.ItemType, $"{type}: the column is replaced by its tokens");
        }
    }

    [TestMethod]
    public void OmittedInputColumn_IsText()
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Transforms.TokenizeForBitLlama("Ids", vocabSize: TinyCorpus.VocabSize).Fit(ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath));
        Assert.AreEqual("Text", model.InputColumnName);
        Assert.AreEqual("Ids", model.OutputColumnName);
    }
}
