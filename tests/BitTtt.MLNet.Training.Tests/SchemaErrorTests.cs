using BitTtt.MLNet;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet.Tests;

/// <summary>Bad columns and options fail in GetOutputSchema, in ML.NET's words, before anything trains.</summary>
[TestClass]
public sealed class SchemaErrorTests
{
    sealed class NumberRow { public float Text { get; set; } }
    sealed class PromptRow { public string Prompt { get; set; } = ""; }
    sealed class TokenRow { [VectorType] public uint[] Tokens { get; set; } = []; }

    static (MLContext Ml, List<string> Log) Context()
    {
        var ml = new MLContext(seed: 1);
        var log = new List<string>();
        ml.Log += (_, e) => { if (e.Source.StartsWith("BitLlama", StringComparison.Ordinal)) lock (log) log.Add(e.Message); };
        return (ml, log);
    }

    [TestMethod]
    public void MissingTextColumn()
    {
        var (ml, log) = Context();
        var data = ml.Data.LoadFromEnumerable(new[] { new PromptRow { Prompt = "a whale" } });
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TinyPipeline.Create(ml).Fit(data));
        StringAssert.Contains(e.Message, "Could not find input column 'Text'");
        Assert.AreEqual(0, log.Count, "nothing may train before the schema is checked");
    }

    [TestMethod]
    public void TextColumnOfWrongType()
    {
        var (ml, log) = Context();
        var data = ml.Data.LoadFromEnumerable(new[] { new NumberRow { Text = 1 } });
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => TinyPipeline.Create(ml).Fit(data));
        StringAssert.Contains(e.Message, "Schema mismatch for input column 'Text': expected String, got Single");
        Assert.AreEqual(0, log.Count);
    }

    [TestMethod]
    public void TokensColumnOfWrongType()
    {
        var (ml, log) = Context();
        var data = ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath);
        var options = TinyPipeline.Options();
        options.TokensColumnName = "Text";
        var pipeline = ml.Transforms.TokenizeForBitLlama(outputColumnName: "Tokens", inputColumnName: "Text", vocabSize: TinyCorpus.VocabSize)
            .Append(ml.Transforms.BitLlama(options));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => pipeline.Fit(data));
        StringAssert.Contains(e.Message, "Schema mismatch for input column 'Text': expected vector of UInt32, got String");
        Assert.AreEqual(0, log.Count);
    }

    [TestMethod]
    public void MissingTokensColumn()
    {
        var (ml, _) = Context();
        var data = ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.BitLlama(TinyPipeline.Options()).Fit(data));
        StringAssert.Contains(e.Message, "Could not find input column 'Tokens'");
    }

    [TestMethod]
    public void TokensWithoutTokenizer()
    {
        var (ml, _) = Context();
        var data = ml.Data.LoadFromEnumerable(new[] { new TokenRow { Tokens = [5, 6, 7] } });
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.BitLlama(TinyPipeline.Options()).Fit(data));
        StringAssert.Contains(e.Message, "carries no BitLlama tokenizer");
    }

    [TestMethod]
    [DataRow(nameof(BitLlamaOptions.HiddenDim), "must be a positive multiple of 4, got 30")]
    [DataRow(nameof(BitLlamaOptions.NumLayers), "must be positive, got 0")]
    [DataRow("Generation.TopP", "must be in (0, 1] (1 = off), got 1.5")]
    [DataRow(nameof(BitLlamaOptions.ValidationFraction), "must be in [0, 1), got 1")]
    [DataRow(nameof(BitLlamaOptions.Resume), "needs CheckpointDirectory")]
    [DataRow(nameof(BitLlamaOptions.Device), "must be cpu, cuda or cuda:N, got 'gpu'")]
    public void OptionOutOfRange(string option, string message)
    {
        var (ml, log) = Context();
        var options = TinyPipeline.Options();
        switch (option)
        {
            case nameof(BitLlamaOptions.HiddenDim): options.HiddenDim = 30; break;
            case nameof(BitLlamaOptions.NumLayers): options.NumLayers = 0; break;
            case "Generation.TopP": options.Generation = options.Generation with { TopP = 1.5f }; break;
            case nameof(BitLlamaOptions.ValidationFraction): options.ValidationFraction = 1; break;
            case nameof(BitLlamaOptions.Resume): options.Resume = true; break;
            case nameof(BitLlamaOptions.Device): options.Device = "gpu"; break;
        }
        var data = ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => TinyPipeline.Create(ml, options).Fit(data));   // a generation option: its OptionException
        Assert.AreEqual(option, e.ParamName);
        StringAssert.Contains(e.Message, $"{option} {message}");
        Assert.AreEqual(0, log.Count, "the tokenizer must not train before the options are checked");
    }

    [TestMethod]
    public void TokenizerVocabularyTooSmall()
    {
        var (ml, _) = Context();
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.TokenizeForBitLlama(vocabSize: 100));
        Assert.AreEqual("VocabSize", e.ParamName);
    }

    [TestMethod]
    public void FittedTokenizer_RejectsAMissingTextColumn()
    {
        var (ml, _) = Context();
        var data = ml.Data.LoadFromEnumerable(new[] { new PromptRow { Prompt = "a whale" } });
        var model = ml.Transforms.TokenizeForBitLlama(vocabSize: TinyCorpus.VocabSize).Fit(ml.Data.LoadFromTextFile<TextRow>(TinyCorpus.TextPath));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => model.Transform(data));
        StringAssert.Contains(e.Message, "Could not find input column 'Text'");
    }
}
