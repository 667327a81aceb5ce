using System.Diagnostics;
using BitTtt.Inference;
using BitTtt.Tests.Shared;
using BitTtt.Tokenization;

namespace BitTtt.Cli.Tests;

[TestClass]
public sealed class GenerateCommandTests
{
    static string _dir = null!;
    static string _model = null!;

    [ClassInitialize]
    public static void WriteTinyModel(TestContext _)
    {
        _dir = TrainCommandTests.TempDir();
        _model = TinyModels.WriteBitt(Path.Combine(_dir, "tiny.bitt"));
    }

    [TestMethod]
    public void GenerateStreamsTheSameTextAsTheLibrary()
    {
        var r = CliRunner.Run("generate", _model, "--prompt", "the whale", "--max-tokens", "12", "--temperature", "0");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        using var llama = Llama.LoadAuto(_model);
        string expected = llama.Complete("the whale", new SamplingOptions { MaxTokens = 12, Temperature = 0 });
        Assert.AreEqual(expected + Environment.NewLine, r.StdOut);
    }

    /// <summary>The issue's reproduction: a token limit that stops inside a multi-byte character prints no U+FFFD.</summary>
    [TestMethod]
    public void AGenerationStoppedMidCharacterPrintsNoReplacementCharacter()
    {
        using var llama = Llama.LoadAuto(_model);
        var hit = MidCharacterCompletions.Find(llama, "Call me", Enumerable.Range(0, 40), [3, 4]).First(x => x.EndsMidCharacter);
        var o = hit.Options;
        var r = CliRunner.Run("generate", _model, "--prompt", hit.Prompt, "--max-tokens", $"{o.MaxTokens}", "--seed", $"{o.Seed}",
            "--temperature", "2", "--top-k", "0", "--top-p", "1", "--repetition-penalty", "1");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        Assert.AreEqual(hit.Expected + Environment.NewLine, r.StdOut);
        Assert.DoesNotContain('\uFFFD', r.StdOut);
    }

    [TestMethod]
    public void StopFlagEndsTheTextBeforeTheStopString()
    {
        using var llama = Llama.LoadAuto(_model);
        string full = llama.Complete("the whale", new SamplingOptions { MaxTokens = 30, Temperature = 0 });
        Assert.IsGreaterThan(4, full.Length, full);
        string stop = full.Substring(full.Length / 2, 2);
        var r = CliRunner.Run("generate", _model, "--prompt", "the whale", "--max-tokens", "30", "--temperature", "0", "--stop", stop, "--stop", "zzNEVERzz");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        Assert.AreEqual(full[..full.IndexOf(stop, StringComparison.Ordinal)] + Environment.NewLine, r.StdOut);
    }

    [TestMethod]
    public void TheLmHeadFlagsChooseTheHead()
    {
        string[] args = ["generate", _model, "--prompt", "the whale", "--max-tokens", "12", "--temperature", "0"];
        var fp32 = CliRunner.Run([.. args, "--fp32-lm-head"]);
        Assert.AreEqual(0, fp32.ExitCode, fp32.StdErr);
        using var exact = Llama.LoadAuto(_model, new InferenceOptions { Int8LmHead = false });
        Assert.AreEqual(exact.Complete("the whale", new SamplingOptions { MaxTokens = 12, Temperature = 0 }) + Environment.NewLine, fp32.StdOut);
        var int8 = CliRunner.Run([.. args, "--int8-lm-head"]);   // the default, still accepted
        Assert.AreEqual(0, int8.ExitCode, int8.StdErr);
        Assert.AreEqual(CliRunner.Run(args).StdOut, int8.StdOut);
        var both = CliRunner.Run([.. args, "--int8-lm-head", "--fp32-lm-head"]);
        Assert.AreNotEqual(0, both.ExitCode);
        StringAssert.Contains(both.StdErr, "exclude each other");
    }

    [TestMethod]
    public void SameSeedSameText()
    {
        string[] args = ["generate", _model, "--prompt", "the sea", "--max-tokens", "20", "--temperature", "1.0", "--top-k", "0", "--top-p", "0.9", "--seed", "11"];
        var a = CliRunner.Run(args);
        var b = CliRunner.Run(args);
        Assert.AreEqual(0, a.ExitCode, a.StdErr);
        Assert.AreEqual(a.StdOut, b.StdOut);
        using var llama = Llama.LoadAuto(_model);
        Assert.AreEqual(llama.Complete("the sea", new SamplingOptions { MaxTokens = 20, Temperature = 1, TopK = 0, TopP = 0.9f, Seed = 11 }) + Environment.NewLine, a.StdOut);
    }

    [TestMethod]
    [DataRow("--temperature", "-1", "--temperature")]
    [DataRow("--top-p", "0", "--top-p")]
    [DataRow("--top-p", "1.5", "--top-p")]
    [DataRow("--max-tokens", "0", "--max-tokens")]
    [DataRow("--top-k", "-3", "--top-k")]
    public void BadSamplingFlagsAreOneLineErrors(string flag, string value, string named)
    {
        var r = CliRunner.Run("generate", _model, "--prompt", "x", flag, value);
        Assert.AreEqual(1, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdErr, named);
        Assert.DoesNotContain("   at ", r.StdErr);
    }

    [TestMethod]
    public void BadModelAndEmptyPromptAreOneLineErrors()
    {
        var missing = CliRunner.Run("generate", Path.Combine(_dir, "nope.bitt"), "--prompt", "x");
        Assert.AreEqual(1, missing.ExitCode, missing.StdErr);
        string junk = Path.Combine(_dir, "junk.bitt");
        File.WriteAllText(junk, "not a model at all");
        var bad = CliRunner.Run("generate", junk, "--prompt", "x");
        Assert.AreEqual(1, bad.ExitCode, bad.StdErr);
        StringAssert.Contains(bad.StdErr, "junk.bitt");
        var empty = CliRunner.Run("generate", _model, "--prompt", "");
        Assert.AreEqual(1, empty.ExitCode, empty.StdErr);
        StringAssert.Contains(empty.StdErr, "--prompt: the prompt is empty");
        Assert.DoesNotContain("(Parameter", empty.StdErr);
    }

    [TestMethod]
    public void ChatKeepsMemoryAcrossTurnsAndSavesAndLoadsIt()
    {
        string mem = Path.Combine(_dir, "chat.bttm");
        var r = RunWithInput($"the whale\n/save {mem}\nthe sea\n/reset\n/load {mem}\n/load {Path.Combine(_dir, "none.bttm")}\n/quit\nnever read\n",
            "chat", _model, "--max-tokens", "6", "--temperature", "0");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdOut, $"[memory saved to {mem}]");
        StringAssert.Contains(r.StdOut, "[memory reset]");
        StringAssert.Contains(r.StdOut, $"[memory loaded from {mem}");
        StringAssert.Contains(r.StdOut, "[error:");
        Assert.IsTrue(File.Exists(mem));

        // The reply to the second turn depends on the first: the memory was kept.
        using var llama = Llama.LoadAuto(_model);
        using var s = llama.CreateSession();
        var greedy = new SamplingOptions { MaxTokens = 6, Temperature = 0 };
        string first = s.Complete("the whale\n", greedy);
        string second = s.Complete("the sea\n", greedy);
        string fresh = llama.CreateSession().Complete("the sea\n", greedy);
        Assert.AreNotEqual(fresh, second, "precondition: on this model the first turn changes the second reply");
        string nl = Environment.NewLine;
        StringAssert.StartsWith(r.StdOut, $"{first}{nl}[memory saved to {mem}]{nl}{second}{nl}[memory reset]{nl}[memory loaded from {mem}, ");
    }

    internal static CliRunner.Result RunWithInput(string input, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "bit-llama.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardInput.Write(input);
        p.StandardInput.Close();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"bit-llama {string.Join(' ', args)} did not finish");
        }
        return new CliRunner.Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}

[TestClass]
public sealed class GenerateOnTrainedModelTests
{
    [TestMethod]
    public void GenerateChatAndManagedLogitsWorkOnTheModelTrainMakes()
    {
        string dir = Path.Combine(Path.GetTempPath(), "bitttt-cli-gen-train-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string text = Path.Combine(dir, "text.txt");
            var rng = new Random(3);
            string[] words = ["the", "whale", "sea", "ship", "white", "dark", "water", "and", "of"];
            File.WriteAllLines(text, Enumerable.Range(0, 300).Select(_ => string.Join(' ', Enumerable.Range(0, 6).Select(_ => words[rng.Next(words.Length)])) + "."));
            string output = Path.Combine(dir, "out");
            var train = CliRunner.Run("train", "--data", text, "--output", output, "--vocab-size", "300", "--dim", "16", "--layers", "1",
                "--context-len", "16", "--batch-size", "4", "--threads", "1", "--warmup-steps", "2", "--eval-interval", "0", "--steps", "4", "--ttt-chunk", "4");
            Assert.AreEqual(0, train.ExitCode, train.StdErr);
            foreach (var model in new[] { Path.Combine(output, "model.bitt"), output })
            {
                var gen = CliRunner.Run("generate", model, "--prompt", "the whale", "--max-tokens", "10", "--seed", "1");
                Assert.AreEqual(0, gen.ExitCode, gen.StdErr);
                Assert.IsGreaterThan(Environment.NewLine.Length, gen.StdOut.Length);
            }
            string bitt = Path.Combine(output, "model.bitt");
            var chat = GenerateCommandTests.RunWithInput("the sea\n/save " + Path.Combine(dir, "m.bttm") + "\nthe ship\n", "chat", bitt, "--max-tokens", "5");
            Assert.AreEqual(0, chat.ExitCode, chat.StdErr);
            StringAssert.Contains(chat.StdOut, "[memory saved to");
            var managed = Logits(CliRunner.Run("logits", bitt, "--tokens", "5,17,2,200,40", "--fp32-lm-head"));   // TorchSharp's head is fp32
            var torch = Logits(CliRunner.Run("logits", bitt, "--tokens", "5,17,2,200,40", "--engine", "torch"));
            Assert.AreEqual(5, managed.Length);
            Assert.AreEqual(torch[0].Length, managed[0].Length);
            // Same tolerance argument as TorchParityTests: float summation order, plus at most an int8 rounding flip.
            for (int t = 0; t < 5; t++)
                for (int v = 0; v < torch[t].Length; v++) Assert.AreEqual(torch[t][v], managed[t][v], 5e-3, $"position {t}, logit {v}");

            // The packed file: bit-llama export --packed from the run's checkpoint and from its .bitt give the same weights,
            // which the managed engine reads (logits close to the fp32 file's) and TorchSharp refuses with one clear line.
            string fromCheckpoint = Path.Combine(dir, "a.bitt"), fromModel = Path.Combine(dir, "b.bitt");
            Assert.AreEqual(0, CliRunner.Run("export", output, "--packed", "--output", fromCheckpoint).ExitCode);
            var export = CliRunner.Run("export", bitt, "--packed", "--output", fromModel);
            Assert.AreEqual(0, export.ExitCode, export.StdErr);
            StringAssert.Contains(export.StdOut, "packed");
            var checkpointLogits = Logits(CliRunner.Run("logits", fromCheckpoint, "--tokens", "5,17,2,200,40"));
            Assert.IsLessThan(new FileInfo(bitt).Length, new FileInfo(fromModel).Length);
            var packedLogits = Logits(CliRunner.Run("logits", fromModel, "--tokens", "5,17,2,200,40"));
            var int8Logits = Logits(CliRunner.Run("logits", bitt, "--tokens", "5,17,2,200,40"));
            for (int t = 0; t < 5; t++)
            {
                CollectionAssert.AreEqual(checkpointLogits[t], packedLogits[t], $"packed from the checkpoint vs from the .bitt, position {t}");
                for (int v = 0; v < torch[t].Length; v++) Assert.AreEqual(int8Logits[t][v], packedLogits[t][v], 0.05, $"packed: position {t}, logit {v}");
            }
            var refused = CliRunner.Run("logits", fromModel, "--tokens", "5", "--engine", "torch");
            Assert.AreEqual(1, refused.ExitCode);
            StringAssert.Contains(refused.StdErr, "b.bitt: a packed .bitt holds 2-bit ternary codes and int8 rows");
            var inspect = CliRunner.Run("inspect", fromModel);
            Assert.AreEqual(0, inspect.ExitCode, inspect.StdErr);
            StringAssert.Contains(inspect.StdOut, "U8");
            var notBitt = CliRunner.Run("export", bitt, "--packed", "--output", Path.Combine(dir, "packed-dir"));
            StringAssert.Contains(notBitt.StdErr, "a packed model is a single .bitt file");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    static float[][] Logits(CliRunner.Result r)
    {
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        return System.Text.Json.JsonDocument.Parse(r.StdOut).RootElement.GetProperty("logits").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
    }
}
