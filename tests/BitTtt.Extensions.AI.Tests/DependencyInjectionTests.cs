using BitTtt.Inference;
using BitTtt.MLNet;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace BitTtt.Extensions.AI.Tests;

[TestClass]
public sealed class DependencyInjectionTests
{
    public sealed class Prompt
    {
        public string Text { get; set; } = "";
    }

    public sealed class CompletionRow
    {
        public string Completion { get; set; } = "";
    }

    static IConfiguration Settings(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [TestMethod]
    public async Task AddBitLlamaFromConfigurationRegistersOneModelAndTheChatClient()
    {
        var config = Settings(("BitLlama:ModelPath", TestModel.BittPath), ("BitLlama:MaxConversations", "3"), ("BitLlama:Temperature", "0"));
        Llama model;
        await using (var services = new ServiceCollection().AddBitLlama(config.GetSection("BitLlama")).BuildServiceProvider())
        {
            model = services.GetRequiredService<Llama>();
            Assert.AreSame(model, services.GetRequiredService<Llama>());
            var chat = services.GetRequiredService<IChatClient>();
            Assert.AreSame(services.GetRequiredService<BitLlamaChatClient>(), chat);
            Assert.AreSame<object>(chat, services.GetRequiredService<IBitLlamaConversations>(), "the endpoints' conversation operations are the same client's");
            var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, "The whale")], new ChatOptions { MaxOutputTokens = 4 });
            using var byHand = model.AsChatClient(new BitLlamaChatClientOptions { Defaults = model.DefaultSampling with { Temperature = 0 } });
            Assert.AreEqual((await byHand.GetResponseAsync([new ChatMessage(ChatRole.User, "The whale")], new ChatOptions { MaxOutputTokens = 4 })).Text, response.Text);
            Assert.AreEqual("tiny-chat", chat.GetService<ChatClientMetadata>()!.DefaultModelId);
        }
        Assert.IsTrue(model.IsDisposed, "the container owns the model");
    }

    [TestMethod]
    public async Task SamplingKeysOverrideTheModelsDefaultsOneByOne()
    {
        var config = Settings(("BitLlama:ModelPath", TestModel.BittPath), ("BitLlama:TopK", "3"), ("BitLlama:StopStrings:0", "\n\n"));
        await using var services = new ServiceCollection().AddBitLlama(config.GetSection("BitLlama")).BuildServiceProvider();
        var model = services.GetRequiredService<Llama>();
        var settings = services.GetRequiredService<IOptions<BitLlamaServiceOptions>>().Value;
        var defaults = settings.ToChatClientOptions(model).Defaults!;
        Assert.AreEqual(model.DefaultSampling with { TopK = 3, StopStrings = defaults.StopStrings }, defaults);
        CollectionAssert.AreEqual(new[] { "\n\n" }, defaults.StopStrings.ToArray());
        Assert.IsNull(settings.Temperature, "an unset key stays unset, so the model's value is used");
    }

    [TestMethod]
    public void BadSettingsNameTheConfigurationKey()
    {
        using var noPath = new ServiceCollection().AddBitLlama(Settings().GetSection("BitLlama")).BuildServiceProvider();
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => noPath.GetRequiredService<IChatClient>()).Message, "BitLlama:ModelPath is not set");
        using var missing = new ServiceCollection().AddBitLlama("/no/such/model.bitt").BuildServiceProvider();
        StringAssert.Contains(Assert.ThrowsExactly<FileNotFoundException>(() => missing.GetRequiredService<Llama>()).Message, "BitLlama:ModelPath '/no/such/model.bitt' does not exist");
        using var hot = new ServiceCollection().AddBitLlama(o => { o.ModelPath = TestModel.BittPath; o.Temperature = -1; }).BuildServiceProvider();
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => hot.GetRequiredService<Llama>()).Message, "BitLlama:Temperature");
        using var cap = new ServiceCollection().AddBitLlama(o => { o.ModelPath = TestModel.BittPath; o.MaxConversations = 0; }).BuildServiceProvider();
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => cap.GetRequiredService<Llama>()).Message, "BitLlama:MaxConversations");
        using var cache = new ServiceCollection().AddBitLlama(o => { o.ModelPath = TestModel.BittPath; o.PrefixCacheMegabytes = 0; }).BuildServiceProvider();
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => cache.GetRequiredService<Llama>()).Message, "BitLlama:PrefixCacheMegabytes");
    }

    [TestMethod]
    public void ThePrefixCacheIsOnAsConfiguredOrOffWithZeroEntries()
    {
        var on = Settings(("BitLlama:ModelPath", TestModel.BittPath), ("BitLlama:PrefixCacheEntries", "5"), ("BitLlama:PrefixCacheMegabytes", "2"));
        using (var services = new ServiceCollection().AddBitLlama(on.GetSection("BitLlama")).BuildServiceProvider())
        {
            services.GetRequiredService<IChatClient>();
            var cache = services.GetRequiredService<Llama>().PrefixCache!;
            Assert.AreEqual(5, cache.MaxEntries);
            Assert.AreEqual(2L << 20, cache.MaxBytes);
            Assert.AreSame(services.GetRequiredService<BitLlamaChatClient>(), services.GetRequiredService<IBitLlamaConversations>());
        }
        var off = Settings(("BitLlama:ModelPath", TestModel.BittPath), ("BitLlama:PrefixCacheEntries", "0"));
        using (var services = new ServiceCollection().AddBitLlama(off.GetSection("BitLlama")).BuildServiceProvider())
        {
            services.GetRequiredService<IChatClient>();
            Assert.IsNull(services.GetRequiredService<Llama>().PrefixCache);
        }
    }

    [TestMethod]
    public void ThePredictionEnginePoolAndAChatClientOnItsModelShareTheWeights()
    {
        using var services = new ServiceCollection()
            .AddBitLlamaPredictionEnginePool<Prompt, CompletionRow>(TestModel.BittPath)
            .AddBitLlama(sp => sp.GetRequiredService<BitLlamaTransformer>().Model)
            .BuildServiceProvider();
        var pool = services.GetRequiredService<BitLlamaPredictionEnginePool<Prompt, CompletionRow>>();
        var transformer = services.GetRequiredService<BitLlamaTransformer>();
        Assert.AreSame(transformer.Model, services.GetRequiredService<Llama>());
        Assert.AreSame(transformer.Model, services.GetRequiredService<BitLlamaChatClient>().Model);
        string[] prompts = ["The whale", "Call me", "It was"];
        var parallel = new string[prompts.Length];
        Parallel.For(0, prompts.Length, i => parallel[i] = pool.Predict(new Prompt { Text = prompts[i] }).Completion);
        CollectionAssert.AreEqual(prompts.Select(transformer.Generate).ToArray(), parallel);
    }

    [TestMethod]
    public void ThePredictionEnginePoolRegistersNoChatTypes()
    {
        var services = new ServiceCollection().AddBitLlamaPredictionEnginePool<Prompt, CompletionRow>(TestModel.BittPath);
        Assert.IsFalse(services.Any(d => d.ServiceType == typeof(Llama) || d.ServiceType == typeof(IChatClient) || d.ServiceType == typeof(BitLlamaChatClient)));
        using var missing = new ServiceCollection().AddBitLlamaPredictionEnginePool<Prompt, CompletionRow>("no-such-model.bitt").BuildServiceProvider();
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => missing.GetRequiredService<BitLlamaTransformer>());
        StringAssert.Contains(e.Message, "'no-such-model.bitt'");
        StringAssert.Contains(e.Message, Path.GetFullPath("no-such-model.bitt"));
    }
}
