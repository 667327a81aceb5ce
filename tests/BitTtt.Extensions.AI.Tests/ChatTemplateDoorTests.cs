using System.Diagnostics;
using BitTtt.Formats;
using BitTtt.Inference;
using BitTtt.MLNet;
using BitTtt.Tokenization;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.ML;

namespace BitTtt.Extensions.AI.Tests;

/// <summary>
/// One model file that stores a chat template (docs/model.md §6) and greedy generation defaults, asked one user message
/// through every chat door with no settings: the chat client (direct, streamed, and from dependency injection), the web
/// API's <c>/v1/chat</c> (JSON and SSE) and <c>/v1/chat/completions</c>, ML.NET's Completion column and <c>bit-llama chat</c> all answer exactly what
/// <see cref="LlamaSession.Reply"/> answers, and stop where it stops: at the end-of-turn token. (Python's door is
/// checked in python/tests/test_generation.py.)
/// </summary>
[TestClass]
public sealed class ChatTemplateDoorTests
{
    const string Question = "Where did the whale swim?";
    static readonly SamplingOptions Stored = SamplingOptions.Greedy(24);
    static string _path = null!;
    static Llama _llama = null!;
    static LlamaCompletion _expected = null!;

    /// <summary>
    /// The test model with the template stored, and its end-of-turn row of the LM head made 1.01 × the row of the
    /// reply's third token: the greedy reply then ends with the end-of-turn token (at the latest where that token stood).
    /// </summary>
    [ClassInitialize]
    public static void WriteTheModel(TestContext _)
    {
        _path = TestModel.NewPath("chat-template.bitt");
        using (var package = ModelPackage.Open(TestModel.BittPath))
        {
            var tokenizer = BitLlamaTokenizer.FromJson(package.TokenizerJson!);
            var format = ChatFormat.Default(tokenizer);
            var config = format.StoreIn(Stored.StoreIn(package.Config));
            var weights = package.Weights.Tensors.Select(t => new SafeTensorData(t.Name, t.Shape, package.Weights.ReadFloat32(t.Name))).ToList();
            int third;
            using (var plain = Llama.FromWeights(config, tokenizer, weights))
            {
                var ids = new List<int>(format.EncodeReply([new ChatTurn(ChatTurn.User, Question)]));
                using var session = plain.CreateSession();
                var logits = session.Logits([.. ids]);
                for (int i = 0; i < 2; i++) logits = session.Logits([Array.IndexOf(logits, logits.Max())]);
                third = Array.IndexOf(logits, logits.Max());
                Assert.IsTrue(logits[third] > 0);
            }
            int head = weights.FindIndex(w => w.Name == BitLlamaWeights.LmHead), d = config.HiddenDim;
            var rows = weights[head].Data.ToArray();
            for (int c = 0; c < d; c++) rows[format.EndOfTurnId * d + c] = 1.01f * rows[third * d + c];
            weights[head] = weights[head] with { Data = rows };
            ModelPackage.WriteBitt(_path, config, package.TokenizerJson!, weights);
        }
        _llama = Llama.LoadAuto(_path);
        _expected = _llama.CreateSession().Reply([new ChatTurn(ChatTurn.User, Question)]);
    }

    [ClassCleanup]
    public static void Close() => _llama.Dispose();

    [TestMethod]
    public void TheReplyEndsAtTheEndOfTurn()
    {
        Assert.AreEqual(LlamaFinishReason.EndOfTurn, _expected.FinishReason);
        Assert.IsLessThanOrEqualTo(2, _expected.CompletionTokens);
        Assert.IsNotNull(_llama.ChatFormat);
    }

    [TestMethod]
    public async Task ChatClientsDirectStreamedAndFromDependencyInjection()
    {
        using var direct = _llama.AsChatClient();
        var response = await direct.GetResponseAsync([new ChatMessage(ChatRole.User, Question)]);
        Assert.AreEqual(_expected.Text, response.Text);
        Assert.AreEqual(ChatFinishReason.Stop, response.FinishReason);
        Assert.AreEqual(_expected.PromptTokens, (int)response.Usage!.InputTokenCount!);
        var streamed = new System.Text.StringBuilder();
        await foreach (var update in direct.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, Question)])) streamed.Append(update.Text);
        Assert.AreEqual(_expected.Text, streamed.ToString());
        await using var services = new ServiceCollection().AddBitLlama(_path).BuildServiceProvider();
        Assert.AreEqual(_expected.Text, (await services.GetRequiredService<IChatClient>().GetResponseAsync(Question)).Text);
    }

    [TestMethod]
    public async Task WebApi()
    {
        await using var server = await WebServer.StartAsync($"--BitLlama:ModelPath={_path}");
        var (status, body) = await server.PostAsync("/v1/chat", new { messages = new[] { new { role = "user", content = Question } } });
        Assert.AreEqual(200, status, body.ToJsonString());
        Assert.AreEqual(_expected.Text, (string)body["text"]!);
        Assert.AreEqual("stop", (string)body["finishReason"]!);
        using var stream = await server.OpenStreamAsync(new { messages = new[] { new { role = "user", content = Question } }, stream = true });
        var (text, final, _) = await stream.ReadToEndAsync();
        Assert.AreEqual(_expected.Text, text);
        Assert.AreEqual("stop", (string)final["finishReason"]!);
        // The OpenAI-compatible endpoint goes through the same chat client.
        var (openAiStatus, completion) = await server.PostAsync("/v1/chat/completions", new { messages = new[] { new { role = "user", content = Question } } });
        Assert.AreEqual(200, openAiStatus, completion.ToJsonString());
        Assert.AreEqual(_expected.Text, (string)completion["choices"]![0]!["message"]!["content"]!);
        Assert.AreEqual("stop", (string)completion["choices"]![0]!["finish_reason"]!);
    }

    sealed class Answer
    {
        public string Completion { get; set; } = "";
    }

    [TestMethod]
    public void MLNetCompletionColumn()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(_path);
        Assert.AreEqual(_expected.Text, ml.Model.CreatePredictionEngine<TestModel.TextRow, Answer>(model).Predict(new TestModel.TextRow { Text = Question }).Completion);
    }

    [TestMethod]
    public void BitLlamaChat()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "bit-llama.dll"), "chat", _path }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Write(Question + "\n");
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))   // a hang guard, as CliRunner's: far beyond a loaded machine's start-up
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("bit-llama chat did not finish within 5 minutes");
        }
        Assert.AreEqual(0, p.ExitCode, stderr.Result);
        Assert.AreEqual(_expected.Text + "\n", stdout.Result);
    }
}
