using BitTtt.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet.Tests;

/// <summary>
/// The rule (docs/mlnet.md, "Who owns the model"): a BitLlamaTransformer owns its Llama; generators, chat
/// clients, sessions and prediction engines borrow it and throw ObjectDisposedException once the transformer,
/// or the pipeline holding it, is disposed.
/// </summary>
[TestClass]
public sealed class OwnershipTests
{
    [TestMethod]
    public void DisposingThePipeline_EndsItsGenerators_WithAClearObjectDisposedException()
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Model.LoadBitt(TinyModels.WriteSeeded());
        var pipeline = new TransformerChain<BitLlamaTransformer>(model);
        var generator = ml.Model.CreateTextGenerator(pipeline);
        var engine = ml.Model.CreatePredictionEngine<TextRow, Completion>(pipeline);
        string before = generator.Complete("the whale");
        Assert.AreEqual(before, engine.Predict(new TextRow { Text = "the whale" }).Text);

        pipeline.Dispose();

        Assert.IsTrue(model.IsDisposed, "disposing the pipeline disposes the BitLlama transformer in it");
        var e = Assert.ThrowsExactly<ObjectDisposedException>(() => generator.Complete("the whale"));
        StringAssert.Contains(e.Message, "keep it alive");
        Assert.AreEqual(nameof(BitLlamaTransformer), e.ObjectName);
        Assert.ThrowsExactly<ObjectDisposedException>(() => generator.CreateSession());
        Assert.ThrowsExactly<ObjectDisposedException>(() => model.Generate("the whale"));
        Assert.ThrowsExactly<ObjectDisposedException>(() => ml.Model.SaveAsBitt(model, TinyCorpus.NewPath("after.bitt")));
        var predict = Assert.ThrowsExactly<ObjectDisposedException>(() => engine.Predict(new TextRow { Text = "the whale" }));
        StringAssert.Contains(predict.Message, "keep it alive");
    }

    [TestMethod]
    public void ASessionOpenedBeforeDispose_StopsWithObjectDisposedException()
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Model.LoadBitt(TinyModels.WriteSeeded());
        using var session = ml.Model.CreateTextGenerator(model).CreateSession();
        model.Dispose();
        Assert.ThrowsExactly<ObjectDisposedException>(() => session.Complete("the whale"));
    }
}
