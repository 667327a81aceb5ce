using BitTtt.MLNet;
using BitTtt.Tokenization;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet.Tests;

[TestClass]
public sealed class TokenizeTests
{
    [TestMethod]
    public void OnItsOwn_TrainsBpe_AndOutputsAVariableVectorOfUInt32ThatDecodesBack()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath);
        var model = ml.Transforms.TokenizeForBitLlama(outputColumnName: "Ids", inputColumnName: "Text", vocabSize: TinyCorpus.VocabSize).Fit(data);
        var output = model.Transform(data);
        var column = output.Schema["Ids"];
        Assert.IsInstanceOfType<VectorDataViewType>(column.Type);
        Assert.AreEqual(NumberDataViewType.UInt32, ((VectorDataViewType)column.Type).ItemType);
        Assert.AreEqual(0, ((VectorDataViewType)column.Type).Size, "variable length");

        var texts = data.GetColumn<string>("Text").ToArray();
        var ids = output.GetColumn<uint[]>("Ids").ToArray();
        Assert.AreEqual(texts.Length, ids.Length);
        for (int i = 0; i < texts.Length; i++)
            Assert.AreEqual(texts[i], model.Tokenizer.Decode(ids[i].Select(v => (int)v)), $"row {i}");
        Assert.IsTrue(ids.Sum(r => r.Length) < texts.Sum(t => System.Text.Encoding.UTF8.GetByteCount(t)), "BPE merges shorten the byte sequence");
    }

    [TestMethod]
    public void GivenTokenizer_FitTrainsNothing()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath);
        var gpt2 = BitLlamaTokenizer.Gpt2();
        var model = ml.Transforms.TokenizeForBitLlama(gpt2.Inner).Fit(data);
        uint[] ids = model.Transform(ml.Data.LoadFromEnumerable(new[] { new TextRow { Text = "Call me Ishmael." } })).GetColumn<uint[]>("Tokens").Single();
        CollectionAssert.AreEqual(gpt2.Encode("Call me Ishmael.").Select(i => (uint)i).ToArray(), ids);
    }

    [TestMethod]
    public void TokenizerJsonPath_IsUsedAsIs()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath);
        var trained = ml.Transforms.TokenizeForBitLlama(vocabSize: TinyCorpus.VocabSize).Fit(data);
        string path = TinyCorpus.NewPath("tokenizer.json");
        File.WriteAllText(path, trained.Tokenizer.ToJson());
        var fromFile = ml.Transforms.TokenizeForBitLlama(outputColumnName: "Tokens", inputColumnName: "Text", tokenizerPath: path).Fit(data);
        CollectionAssert.AreEqual(
            trained.Transform(data).GetColumn<uint[]>("Tokens").SelectMany(x => x).ToArray(),
            fromFile.Transform(data).GetColumn<uint[]>("Tokens").SelectMany(x => x).ToArray());
    }

    [TestMethod]
    public void PredictionEngine_Tokenizes()
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Transforms.TokenizeForBitLlama(vocabSize: TinyCorpus.VocabSize).Fit(ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath));
        var engine = ml.Model.CreatePredictionEngine<TextRow, TokensRow>(model);
        var row = engine.Predict(new TextRow { Text = "whale" });
        Assert.AreEqual("whale", model.Tokenizer.Decode(row.Tokens.Select(v => (int)v)));
    }

    [TestMethod]
    public void ModelSave_RoundTripsThroughLoadWithBitLlama_KeepingColumnNames()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new BodyRow { Body = "Call me Ishmael." }, new BodyRow { Body = "The whale!" } });
        var train = ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath);
        var model = ml.Transforms.TokenizeForBitLlama(outputColumnName: "Ids", inputColumnName: "Text", vocabSize: TinyCorpus.VocabSize).Fit(train);
        var chain = ml.Transforms.CopyColumns("Text", "Body").Fit(data).Append(model);
        string path = TinyCorpus.NewPath("tokenizer.zip");
        ml.Model.Save(chain, data.Schema, path);

        var loaded = new MLContext(seed: 2).Model.LoadWithBitLlama(path, out var schema);
        Assert.IsNotNull(schema.GetColumnOrNull("Body"));
        var inner = ((IEnumerable<ITransformer>)loaded).OfType<TokenizeForBitLlamaTransformer>().Single();
        Assert.AreEqual("Ids", inner.OutputColumnName);
        CollectionAssert.AreEqual(
            chain.Transform(data).GetColumn<uint[]>("Ids").SelectMany(x => x).ToArray(),
            loaded.Transform(data).GetColumn<uint[]>("Ids").SelectMany(x => x).ToArray());
    }

    sealed class BodyRow { public string Body { get; set; } = ""; }

    sealed class TokensRow { public uint[] Tokens { get; set; } = []; }
}
