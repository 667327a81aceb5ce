using System.Diagnostics;
using BitTtt.Formats;
using BitTtt.Inference;
using BitTtt.MLNet;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.ML;

namespace BitTtt.Extensions.AI.Tests;

/// <summary>
/// One model file that stores generation defaults (config field <c>generation</c>), opened through every door with no
/// sampling settings: the library, ML.NET (prediction engine and generator), dependency injection and its chat client,
/// the web API and the <c>bit-llama</c> command all answer what the library answers with those defaults. (The Python
/// package checks its door in python/tests/test_generation.py.)
/// </summary>
[TestClass]
public sealed class EveryDoorTests
{
    const string Prompt = "The whale";
    static readonly SamplingOptions Stored = new() { MaxTokens = 9, Temperature = 1.2f, TopK = 12, TopP = 0.9f, RepetitionPenalty = 1.3f, Seed = 5 };
    static string _path = null!;
    static Llama _llama = null!;
    static string _expected = null!;

    [ClassInitialize]
    public static void WriteTheModel(TestContext _)
    {
        _path = TestModel.NewPath("stored-defaults.bitt");
        using (var package = ModelPackage.Open(TestModel.BittPath))
        {
            var weights = package.Weights.Tensors.Select(t => new SafeTensorData(t.Name, t.Shape, package.Weights.ReadFloat32(t.Name))).ToList();
            ModelPackage.WriteBitt(_path, Stored.StoreIn(package.Config), package.TokenizerJson!, weights);
        }
        _llama = Llama.LoadAuto(_path);
        _expected = _llama.CreateSession().Complete(Prompt, Stored);
    }

    [ClassCleanup]
    public static void Close() => _llama.Dispose();

    /// <summary>What a chat door answers: the template's prompt, sampled with the stored defaults and the template's stop.</summary>
    static string ExpectedChat()
    {
        var template = PlainTextChatTemplate.Instance;
        return _llama.CreateSession().Complete(template.Format([new ChatMessage(ChatRole.User, Prompt)]), Stored with { StopStrings = template.StopSequences });
    }

    [TestMethod]
    public void TheStoredDefaultsMatter()
    {
        Assert.AreNotEqual(_expected, _llama.Complete(Prompt, new SamplingOptions { Seed = Stored.Seed }), "the library defaults give the same text: the test could not tell");
        Assert.AreNotEqual(new SamplingOptions(), Stored);
    }

    [TestMethod]
    public void Library()
    {
        Assert.AreEqual(Stored, _llama.DefaultSampling);
        Assert.AreEqual(_expected, _llama.Complete(Prompt));
        using var session = _llama.CreateSession();
        Assert.AreEqual(_expected, session.Complete(Prompt));
    }

    [TestMethod]
    public void MLNet()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(_path);
        var engine = ml.Model.CreatePredictionEngine<TextRow, Completion>(model);
        Assert.AreEqual(_expected, engine.Predict(new TextRow { Text = Prompt }).Text);
        var generator = ml.Model.CreateTextGenerator(model);
        Assert.AreEqual(Stored, generator.DefaultOptions);
        Assert.AreEqual(_expected, generator.Complete(Prompt));

        // Saved again through ML.NET, the file keeps them.
        string again = TestModel.NewPath("again.bitt");
        ml.Model.SaveAsBitt(model, again);
        using var reloaded = Llama.LoadAuto(again);
        Assert.AreEqual(Stored, reloaded.DefaultSampling);
    }

    [TestMethod]
    public async Task DependencyInjectionAndItsChatClient()
    {
        await using var services = new ServiceCollection().AddBitLlama(_path).BuildServiceProvider();
        Assert.AreEqual(_expected, services.GetRequiredService<Llama>().Complete(Prompt));
        var chat = services.GetRequiredService<IChatClient>();
        Assert.AreEqual(ExpectedChat(), (await chat.GetResponseAsync([new ChatMessage(ChatRole.User, Prompt)])).Text);
        using var direct = _llama.AsChatClient();
        Assert.AreEqual(ExpectedChat(), (await direct.GetResponseAsync([new ChatMessage(ChatRole.User, Prompt)])).Text);
    }

    [TestMethod]
    public async Task WebApi()
    {
        await using var server = await WebServer.StartAsync($"--BitLlama:ModelPath={_path}");
        var (status, body) = await server.PostAsync("/v1/complete", new { prompt = Prompt });
        Assert.AreEqual(200, status, body.ToJsonString());
        Assert.AreEqual(_expected, (string)body["text"]!);
        var (chatStatus, chat) = await server.PostAsync("/v1/chat", new { messages = new[] { new { role = "user", content = Prompt } } });
        Assert.AreEqual(200, chatStatus, chat.ToJsonString());
        Assert.AreEqual(ExpectedChat(), (string)chat["text"]!);
    }

    [TestMethod]
    public void Cli()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "bit-llama.dll"), "generate", _path, "--prompt", Prompt }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.IsTrue(p.WaitForExit(TimeSpan.FromMinutes(2)), "bit-llama generate did not finish");
        Assert.AreEqual(0, p.ExitCode, stderr.Result);
        Assert.AreEqual(_expected + Environment.NewLine, stdout.Result);
    }
}
