using System.Text.Json.Nodes;

namespace BitTtt.Inference.Tests;

/// <summary>A model's generation defaults stored in its config (docs/model.md §1 <c>generation</c>) and what reads them.</summary>
[TestClass]
public sealed class StoredSamplingTests
{
    string _dir = null!;

    [TestInitialize]
    public void Init() => _dir = TempFiles.NewDirectory();

    static readonly SamplingOptions Stored = new() { MaxTokens = 9, Temperature = 1.3f, TopK = 7, TopP = 0.9f, RepetitionPenalty = 1.25f, Seed = 11 };

    [TestMethod]
    public void StoredDefaultsRoundTripThroughABittFileAndAreWhatACallWithoutOptionsUses()
    {
        var c = Stored.StoreIn(TinyLlama.Config());
        string bitt = Path.Combine(_dir, "m.bitt");
        TinyModels.WriteBitt(bitt, c, seed: 3);
        using var llama = Llama.LoadAuto(bitt);
        Assert.AreEqual(Stored, llama.DefaultSampling);
        string expected = llama.CreateSession().Complete("the whale", Stored);
        Assert.AreEqual(expected, llama.Complete("the whale"));
        Assert.AreEqual(expected, llama.CreateSession().Complete("the whale"));
        Assert.AreNotEqual(expected, llama.Complete("the whale", new SamplingOptions { Seed = 11 }), "the stored settings made no difference");
        var json = JsonNode.Parse(c.ToJson())!["generation"]!.AsObject();
        CollectionAssert.AreEquivalent(new[] { "max_tokens", "temperature", "top_k", "top_p", "repetition_penalty", "seed" }, json.Select(kv => kv.Key).ToArray());
    }

    [TestMethod]
    public void AModelWithoutStoredDefaultsGetsTheLibrarysAndAPartialFieldFillsTheRest()
    {
        Assert.AreEqual(new SamplingOptions(), SamplingOptions.FromConfig(TinyLlama.Config(), "m.bitt"));
        var partial = TinyLlama.Config() with { Extra = new Dictionary<string, JsonNode?> { ["generation"] = new JsonObject { ["top_k"] = 3 } } };
        Assert.AreEqual(new SamplingOptions { TopK = 3 }, SamplingOptions.FromConfig(partial, "m.bitt"));
    }

    [TestMethod]
    public void FilesWrittenBeforeTheGenerationFieldAreReadFromTheirMlnetField()
    {
        var legacy = new JsonObject
        {
            ["prompt_column"] = "Text", ["completion_column"] = "Completion", ["max_new_tokens"] = 64, ["temperature"] = 0.5,
            ["top_k"] = 40, ["top_p"] = 0.95, ["repetition_penalty"] = 1.1, ["seed"] = 42,
        };
        var c = TinyLlama.Config() with { Extra = new Dictionary<string, JsonNode?> { ["mlnet"] = legacy } };
        var read = SamplingOptions.FromConfig(c, "old.bitt");
        Assert.AreEqual(new SamplingOptions { MaxTokens = 64, Temperature = 0.5f, Seed = 42 }, read);

        // Stored again: the generation field holds them, the mlnet field keeps only what is not sampling.
        var rewritten = JsonNode.Parse(read.StoreIn(c).ToJson())!;
        Assert.AreEqual(64, (int)rewritten["generation"]!["max_tokens"]!);
        CollectionAssert.AreEquivalent(new[] { "prompt_column", "completion_column" }, rewritten["mlnet"]!.AsObject().Select(kv => kv.Key).ToArray());
        Assert.AreEqual(read, SamplingOptions.FromConfig(BitLlamaConfig.FromJson(rewritten.ToJsonString(), "new.bitt"), "new.bitt"));
    }

    [TestMethod]
    [DataRow("""{"top_p": 2}""", "'generation.top_p' must be in (0, 1]")]
    [DataRow("""{"max_tokens": 0}""", "'generation.max_tokens' must be positive")]
    [DataRow("""{"max_tokens": 1.5}""", "'generation.max_tokens' must be an integer")]
    [DataRow("""{"temperature": "hot"}""", "'generation.temperature' must be a number")]
    [DataRow("""{"stop": ["x"]}""", "unknown field 'stop'")]
    [DataRow("""[1]""", "'generation' must be an object")]
    public void ABadStoredSettingIsAFormatErrorNamingTheFileAndField(string stored, string expected)
    {
        var c = TinyLlama.Config() with { Extra = new Dictionary<string, JsonNode?> { ["generation"] = JsonNode.Parse(stored) } };
        string bitt = Path.Combine(_dir, "bad.bitt");
        TinyModels.WriteBitt(bitt, c, seed: 1);
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => Llama.LoadAuto(bitt));
        StringAssert.Contains(e.Message, "bad.bitt");
        StringAssert.Contains(e.Message, expected);
    }

    [TestMethod]
    public void StopStringsAreNeverStored() =>
        Assert.AreEqual("StopStrings", Assert.ThrowsExactly<OptionException>(() => new SamplingOptions { StopStrings = ["\n"] }.StoreIn(TinyLlama.Config())).Option);

    [TestMethod]
    public void EveryNameStyleSpellsEachOption()
    {
        string[] Spell(NameStyle style) => [.. SamplingOptions.Names.Select(n => n.In(style))];
        CollectionAssert.AreEqual(new[] { "MaxTokens", "Temperature", "TopK", "TopP", "RepetitionPenalty", "Seed", "StopStrings" }, Spell(NameStyle.Property));
        CollectionAssert.AreEqual(new[] { "--max-tokens", "--temperature", "--top-k", "--top-p", "--repetition-penalty", "--seed", "--stop" }, Spell(NameStyle.CliFlag));
        CollectionAssert.AreEqual(new[] { "maxTokens", "temperature", "topK", "topP", "repetitionPenalty", "seed", "stopStrings" }, Spell(NameStyle.Json));
        CollectionAssert.AreEqual(new[] { "max_tokens", "temperature", "top_k", "top_p", "repetition_penalty", "seed", "stop" }, Spell(NameStyle.Snake));
        var e = Assert.ThrowsExactly<OptionException>(() => new SamplingOptions { TopP = 2 }.Validate(NameStyle.CliFlag));
        Assert.AreEqual("--top-p must be in (0, 1] (1 = off), got 2", e.Message);
        Assert.AreEqual("TopP", e.Option);
        Assert.AreEqual("BitLlama:TopK must be >= 0 (0 = no limit), got -1",
            Assert.ThrowsExactly<OptionException>(() => new SamplingOptions { TopK = -1 }.Validate(NameStyle.Property, "BitLlama:")).Message);
    }

    [TestMethod]
    public void OverridesReplaceOnlyWhatTheySet()
    {
        var merged = Stored.With(new SamplingOverrides { Temperature = 0, StopStrings = ["\n"] });
        Assert.AreEqual(Stored with { Temperature = 0, StopStrings = merged.StopStrings }, merged);
        CollectionAssert.AreEqual(new[] { "\n" }, merged.StopStrings.ToArray());
        Assert.AreSame(Stored, Stored.With(null));
    }
}
