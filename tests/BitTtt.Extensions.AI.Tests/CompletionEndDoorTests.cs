using System.Diagnostics;
using BitTtt.Inference;
using BitTtt.Tests.Shared;

namespace BitTtt.Extensions.AI.Tests;

/// <summary>
/// A completion that its token limit stops inside a multi-byte character ends at the last whole character, with no
/// U+FFFD, the same through the library, the web API and the <c>bit-llama</c> command (ML.NET and the chat client go
/// through the library; python/tests/test_generation.py checks the Python door).
/// </summary>
[TestClass]
public sealed class CompletionEndDoorTests
{
    static MidCharacterCompletions.Case _case = null!;

    [ClassInitialize]
    public static void FindACase(TestContext _)
    {
        using var llama = Llama.LoadAuto(TestModel.BittPath);
        _case = MidCharacterCompletions.Find(llama, "The whale é", Enumerable.Range(0, 60), [2, 3, 4]).First(x => x.EndsMidCharacter);
        Assert.DoesNotContain('\uFFFD', _case.Expected);
    }

    [TestMethod]
    public void Library()
    {
        using var llama = Llama.LoadAuto(TestModel.BittPath);
        Assert.AreEqual(_case.Expected, llama.Complete(_case.Prompt, _case.Options));
    }

    [TestMethod]
    public async Task WebApi()
    {
        await using var server = await WebServer.StartAsync($"--BitLlama:ModelPath={TestModel.BittPath}");
        var o = _case.Options;
        var (status, body) = await server.PostAsync("/v1/complete", new
        {
            prompt = _case.Prompt, maxTokens = o.MaxTokens, temperature = o.Temperature, topK = o.TopK, topP = o.TopP, repetitionPenalty = o.RepetitionPenalty, seed = o.Seed,
        });
        Assert.AreEqual(200, status, body.ToJsonString());
        Assert.AreEqual(_case.Expected, (string)body["text"]!);
    }

    [TestMethod]
    public void Cli()
    {
        var o = _case.Options;
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, StandardOutputEncoding = System.Text.Encoding.UTF8 };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "bit-llama.dll"), "generate", TestModel.BittPath, "--prompt", _case.Prompt,
                     "--max-tokens", $"{o.MaxTokens}", "--temperature", "2", "--top-k", "0", "--top-p", "1", "--repetition-penalty", "1", "--seed", $"{o.Seed}" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.IsTrue(p.WaitForExit(TimeSpan.FromMinutes(2)), "bit-llama generate did not finish");
        Assert.AreEqual(0, p.ExitCode, stderr.Result);
        Assert.AreEqual(_case.Expected + Environment.NewLine, stdout.Result);
    }
}
