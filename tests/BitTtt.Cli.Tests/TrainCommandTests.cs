using System.Diagnostics;
using System.Text;
using System.Text.Json;
using BitTtt.Training;
using static TorchSharp.torch;

namespace BitTtt.Cli.Tests;

[TestClass]
public sealed class TrainCommandTests
{
    static readonly TempRoot Temp = new("bitttt-cli-train-tests");

    internal static string TempDir() => Temp.NewDirectory();

    // Assembly-wide: the other train test classes take their directories from TempDir too.
    [AssemblyCleanup]
    public static void DeleteTempDirs() => Temp.Delete();

    // ~30 KB of English-like text from a fixed vocabulary, so BPE and the model have structure to learn.
    internal static string WriteText(string dir, int sentences = 600)
    {
        string[] words = ["the", "whale", "sea", "ship", "captain", "white", "ahab", "harpoon", "deck", "wind", "sailed", "over", "and", "of", "a", "into", "dark", "water"];
        var rng = new Random(5);
        var text = new StringBuilder();
        for (int s = 0; s < sentences; s++)
        {
            int n = 4 + rng.Next(8);
            text.AppendJoin(' ', Enumerable.Range(0, n).Select(_ => words[rng.Next(words.Length)])).Append(".\n");
        }
        string path = Path.Combine(dir, "text.txt");
        File.WriteAllText(path, text.ToString());
        return path;
    }

    internal static readonly string[] Tiny =
        ["--vocab-size", "300", "--dim", "16", "--layers", "1", "--context-len", "16", "--batch-size", "4", "--threads", "1", "--warmup-steps", "2", "--lr", "3e-3", "--eval-interval", "0"];

    internal static CliRunner.Result Train(string text, string output, params string[] extra) =>
        CliRunner.Run(["train", "--data", text, "--output", output, .. Tiny, .. extra]);

    [TestMethod]
    public void TinyRunWritesModelDirectoryBittAndLossFigures()
    {
        string dir = TempDir(), text = WriteText(dir), output = Path.Combine(dir, "out");
        var r = Train(text, output, "--steps", "5", "--ttt-type", "reconstruct", "--inner-lr", "0.5", "--ttt-chunk", "4", "--log-x");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        foreach (var file in new[] { "config.json", "tokenizer.json", "model.safetensors", "model.bitt", "checkpoint.safetensors", "tokens.bin", "val.bin", "loss.png" })
            Assert.IsTrue(File.Exists(Path.Combine(output, file)), file);
        StringAssert.Contains(r.StdErr, "n-gram baselines on the validation split (nats/token): unigram ");
        StringAssert.Matches(r.StdOut, new System.Text.RegularExpressions.Regex(@"validation \d+\.\d\d nats: .*the unigram \(\d+\.\d\d\).*the trigram \(\d+\.\d\d\)"));
        var baselines = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "baselines.json"))).RootElement;
        double unigram = baselines.GetProperty("unigram").GetDouble(), trigram = baselines.GetProperty("trigram").GetDouble();
        Assert.IsTrue(trigram > 0 && trigram < unigram, $"trigram {trigram}, unigram {unigram}: the text has word structure");
        var metrics = File.ReadAllLines(Path.Combine(output, "metrics.csv"));
        Assert.AreEqual("step,lr,train_loss,val_loss,tokens_per_s,elapsed_s", metrics[0]);
        CollectionAssert.AreEqual(new[] { "1", "2", "3", "4", "5" }, metrics[1..].Select(l => l.Split(',')[0]).ToArray());
        Assert.AreNotEqual("", metrics[5].Split(',')[3], "the last step has a validation loss");
        string lossCurve = Path.Combine(Path.GetFullPath(output), "loss.png");
        StringAssert.Contains(r.StdOut, $"loss curve: {lossCurve}");
        Assert.IsTrue(File.ReadAllBytes(lossCurve).AsSpan(0, 8).SequenceEqual((byte[])[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]), "loss.png is not a PNG");
        StringAssert.Contains(r.StdErr, "step 5/5");
        StringAssert.Contains(r.StdErr, "inner_lr * ttt_chunk = 2");
        Assert.AreEqual(300, BitLlamaConfig.Load(Path.Combine(output, "config.json")).VocabSize);
        Assert.AreEqual(TttType.Reconstruct, BitLlamaConfig.Load(Path.Combine(output, "config.json")).TttType);
    }

    [TestMethod]
    public void NewModelsAreDeltaWithFourHeadsAConvolutionOfFourAndInnerLrOne()
    {
        string dir = TempDir(), text = WriteText(dir, 200), output = Path.Combine(dir, "delta");
        var r = Train(text, output, "--steps", "2");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        var config = BitLlamaConfig.Load(Path.Combine(output, "config.json"));
        Assert.AreEqual(TttType.Delta, config.TttType);
        Assert.AreEqual((4, 4, 4, 1.0f), (config.TttHeads, config.TttHeadDim, config.TttConv, config.InnerLr));
    }

    [TestMethod]
    public void DeltaFlagsReachTheConfigAndALargeInnerLrIsWarnedAbout()
    {
        string dir = TempDir(), text = WriteText(dir, 200);
        var r = Train(text, Path.Combine(dir, "custom"), "--steps", "1", "--ttt-heads", "2", "--ttt-head-dim", "3", "--ttt-conv", "0", "--inner-lr", "2.5");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdErr, "inner_lr = 2.5 > 2");
        var config = BitLlamaConfig.Load(Path.Combine(dir, "custom", "config.json"));
        Assert.AreEqual((2, 3, 0, 2.5f), (config.TttHeads, config.TttHeadDim, config.TttConv, config.InnerLr));
    }

    [TestMethod]
    public void ReconstructTakesItsOwnDefaultInnerLr()
    {
        string dir = TempDir(), text = WriteText(dir, 200);
        var r = Train(text, Path.Combine(dir, "recon"), "--steps", "1", "--ttt-type", "reconstruct");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        Assert.AreEqual(0.1f, BitLlamaConfig.Load(Path.Combine(dir, "recon", "config.json")).InnerLr);
    }

    [TestMethod]
    public void ACheckpointOfOneTttTypeDoesNotResumeAsTheOther()
    {
        var r = Train(TwoStepRun.Value.Text, TwoStepRun.Value.Output, "--steps", "4", "--resume", "--ttt-type", "reconstruct");
        Assert.AreEqual(1, r.ExitCode);
        StringAssert.Contains(r.StdErr, "ttt_type = delta in the checkpoint, reconstruct in this run");
    }

    [TestMethod]
    public void ATimeBudgetPlansTheRunAndAnUndertrainedRunSaysWhatToChange()
    {
        string dir = TempDir(), text = WriteText(dir), output = Path.Combine(dir, "budget");
        var clock = Stopwatch.StartNew();
        var r = CliRunner.Run(["train", "--data", text, "--output", output, "--time-budget", "8s", "--context-len", "16", "--threads", "1", "--eval-interval", "0"]);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdErr, "time budget: a 512-token vocabulary for ");
        StringAssert.Contains(r.StdErr, "s/step, ");
        StringAssert.Matches(r.StdErr, new System.Text.RegularExpressions.Regex(@"time budget 8s: D=64, 2 layers, batch 8, lr 0\.002, \d+ steps"));
        var repeat = System.Text.RegularExpressions.Regex.Match(r.StdErr, @"the same run without the budget: --vocab-size (\d+) --dim 64 --layers 2 --batch-size 8 --lr 0\.002 --warmup-steps (\d+) --steps (\d+)");
        Assert.IsTrue(repeat.Success, r.StdErr);
        var config = BitLlamaConfig.Load(Path.Combine(output, "config.json"));
        Assert.AreEqual((64, 2), (config.HiddenDim, config.NumLayers));
        int steps = int.Parse(repeat.Groups[3].Value);
        Assert.AreEqual(steps + 1, File.ReadAllLines(Path.Combine(output, "metrics.csv")).Length, "one metrics row per planned step");
        Assert.IsLessThan(60, clock.Elapsed.TotalSeconds, "an 8 s budget took a minute");

        // Three steps of a tiny model: undertrained, and the advice names the flags to change.
        r = Train(text, Path.Combine(dir, "short"), "--steps", "3");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.Matches(r.StdOut, new System.Text.RegularExpressions.Regex(@"undertrained: validation \d+\.\d\d nats is (no better than the unigram|above the Kneser-Ney bigram)"));
        StringAssert.Contains(r.StdOut, "--steps");
        StringAssert.Contains(r.StdOut, "--time-budget sizes the model");

        foreach (var (args, message) in new (string[], string)[]
        {
            (["--time-budget", "10x"], "--time-budget must be a duration such as 10m, 90s, 1h30m or 00:10:00, got '10x'"),
            (["--time-budget", "1m", "--resume"], "--time-budget plans a new run"),
        })
        {
            r = Train(text, output, args);
            Assert.AreEqual(1, r.ExitCode, string.Join(" ", args));
            StringAssert.Contains(r.StdErr, message);
        }
        Directory.Delete(dir, recursive: true);
    }

    [TestMethod]
    [DataRow("--ttt-type mamba", "--ttt-type must be 'delta' or 'reconstruct', got 'mamba'")]
    [DataRow("--ttt-type reconstruct --ttt-conv 2", "--ttt-conv applies only to --ttt-type delta")]
    [DataRow("--ttt-heads 3", "--ttt-heads (3) must divide --dim (16)")]
    [DataRow("--ttt-conv -1", "--ttt-conv must be >= 0")]
    [DataRow("--weight-decay -1", "--weight-decay must be a finite number >= 0, got -1")]
    [DataRow("--grad-clip 0", "--grad-clip must be a finite number > 0, got 0")]
    [DataRow("--eval-batches 0", "--eval-batches must be positive, got 0")]
    public void ABadTttOrOptimizerFlagIsOneLineNamingIt(string flags, string message)
    {
        string dir = TempDir(), text = WriteText(dir, 200);
        var r = Train(text, Path.Combine(dir, "bad"), ["--steps", "1", .. flags.Split(' ')]);
        Assert.AreEqual(1, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdErr, message);
        Assert.AreEqual(1, r.StdErr.Trim().Split('\n').Length, r.StdErr);
    }

    [TestMethod]
    public void LogitsPrintsOneRowPerTokenFromTheTorchModel()
    {
        string dir = TempDir(), text = WriteText(dir), output = Path.Combine(dir, "out");
        Assert.AreEqual(0, Train(text, output, "--steps", "3").ExitCode);
        string bitt = Path.Combine(output, "model.bitt");
        var r = CliRunner.Run("logits", bitt, "--tokens", "5,17,2,299,40", "--engine", "torch");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        var rows = JsonDocument.Parse(r.StdOut).RootElement.GetProperty("logits").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        Assert.AreEqual(5, rows.Length);

        using var model = ModelWeights.LoadModel(bitt);
        using var ids = tensor(new long[] { 5, 17, 2, 299, 40 }, [1, 5]);
        using var logits = model.forward(ids);
        var expected = logits.data<float>().ToArray();
        for (int t = 0; t < 5; t++)
        {
            Assert.AreEqual(300, rows[t].Length);
            for (int v = 0; v < 300; v++) Assert.AreEqual(expected[t * 300 + v], rows[t][v], 1e-5, $"position {t}, logit {v}");
        }

        // The managed engine (packed ternary kernels, token by token) computes the same docs/model.md forward pass.
        var managed = CliRunner.Run("logits", bitt, "--tokens", "5,17,2,299,40", "--engine", "managed", "--fp32-lm-head");   // the head as docs/model.md writes it
        Assert.AreEqual(0, managed.ExitCode, managed.StdErr);
        var managedRows = JsonDocument.Parse(managed.StdOut).RootElement.GetProperty("logits").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        for (int t = 0; t < 5; t++)
            for (int v = 0; v < 300; v++) Assert.AreEqual(rows[t][v], managedRows[t][v], 1e-4, $"managed vs torch: position {t}, logit {v}");

    }

    [TestMethod]
    public void StopAfterStepsThenResumeEqualsAStraightRun()
    {
        string dir = TempDir(), text = WriteText(dir);
        string straight = Path.Combine(dir, "straight"), split = Path.Combine(dir, "split");
        Assert.AreEqual(0, Train(text, straight, "--steps", "6").ExitCode);
        var first = Train(text, split, "--steps", "6", "--stop-after-steps", "3");
        Assert.AreEqual(0, first.ExitCode, first.StdErr);
        StringAssert.Contains(first.StdOut, "stopped at step 3 of 6");
        var second = Train(text, split, "--steps", "6", "--resume");
        Assert.AreEqual(0, second.ExitCode, second.StdErr);
        var steps = File.ReadAllLines(Path.Combine(split, "metrics.csv"))[1..].Select(l => l.Split(',')[0]).ToArray();
        CollectionAssert.AreEqual(new[] { "1", "2", "3", "4", "5", "6" }, steps, "metrics.csv continues across a resume");
        CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(straight, "model.safetensors")), File.ReadAllBytes(Path.Combine(split, "model.safetensors")));

        var export = CliRunner.Run("export", split, "--output", Path.Combine(dir, "exported.bitt"));
        Assert.AreEqual(0, export.ExitCode, export.StdErr);
        var a = CliRunner.Run("logits", Path.Combine(dir, "exported.bitt"), "--tokens", "3,4,5");
        var b = CliRunner.Run("logits", Path.Combine(straight, "model.bitt"), "--tokens", "3,4,5");
        Assert.AreEqual(b.StdOut, a.StdOut);
    }

    [TestMethod]
    public void TrainingRunsLibgompWithThePassiveWaitPolicyUnlessTheUserChoseOne()
    {
        // libgomp prints the settings it read at load time (OMP_DISPLAY_ENV); spin count 0 means its workers sleep.
        string dir = TempDir(), text = WriteText(dir, 100);
        var unset = CliRunner.RunWith(new() { ["OMP_DISPLAY_ENV"] = "VERBOSE", ["OMP_WAIT_POLICY"] = null },
            ["train", "--data", text, "--output", Path.Combine(dir, "a"), .. Tiny, "--steps", "1"]);
        Assert.AreEqual(0, unset.ExitCode, unset.StdErr);
        StringAssert.Contains(unset.StdErr, "OMP_WAIT_POLICY = 'PASSIVE'");
        StringAssert.Contains(unset.StdErr, "GOMP_SPINCOUNT = '0'");
        var active = CliRunner.RunWith(new() { ["OMP_DISPLAY_ENV"] = "VERBOSE", ["OMP_WAIT_POLICY"] = "ACTIVE" },
            ["train", "--data", text, "--output", Path.Combine(dir, "b"), .. Tiny, "--steps", "1"]);
        Assert.AreEqual(0, active.ExitCode, active.StdErr);
        StringAssert.Contains(active.StdErr, "OMP_WAIT_POLICY = 'ACTIVE'");
    }

    /// <summary>A finished 2-step run (delta, vocabulary 300) that the bad-input tests resume or export; none of them changes it.</summary>
    static readonly Lazy<(string Dir, string Text, string Output)> TwoStepRun = new(() =>
    {
        string dir = TempDir(), text = WriteText(dir), output = Path.Combine(dir, "out");
        var r = Train(text, output, "--steps", "2");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        return (dir, text, output);
    });

    /// <summary>A 280-id tokenizer of the run's text: not the 300 ids of <see cref="TwoStepRun"/>.</summary>
    static string OtherTokenizer(string dir, string text)
    {
        string path = Path.Combine(dir, "other.json");
        var r = CliRunner.Run("tokenizer", "train", "--input", text, "--vocab-size", "280", "--output", path);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        return path;
    }

    [TestMethod]
    public void ResumeWithoutACheckpointSaysThereIsNone()
    {
        string dir = TempDir(), text = WriteText(dir);
        var r = Train(text, Path.Combine(dir, "fresh"), "--steps", "2", "--resume");
        Assert.AreEqual(1, r.ExitCode);
        StringAssert.Contains(r.StdErr, "no checkpoint");
    }

    [TestMethod]
    public void ATextShorterThanOneWindowIsRefused()
    {
        string dir = TempDir(), shortText = Path.Combine(dir, "short.txt");
        File.WriteAllText(shortText, "the whale.\n");
        var r = CliRunner.Run(["train", "--data", shortText, "--output", Path.Combine(dir, "short"), .. Tiny, "--steps", "2"]);
        Assert.AreEqual(1, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdErr, "fewer than one window");
    }

    [TestMethod]
    [DataRow("cuda", "bit-llama: error: ", "rebuild with -p:TorchBackend=cuda-linux")]
    [DataRow("tpu", "bit-llama: error: --device must be cpu, cuda or cuda:N, got 'tpu'.", "")]
    public void ABadDeviceIsOneLineSayingWhatToDo(string device, string start, string fragment)
    {
        string dir = TempDir(), text = WriteText(dir);
        var r = Train(text, Path.Combine(dir, device), "--steps", "2", "--device", device);
        Assert.AreEqual(1, r.ExitCode, r.StdErr);
        StringAssert.StartsWith(r.StdErr.Trim(), start);
        StringAssert.Contains(r.StdErr, fragment);
        Assert.AreEqual(1, r.StdErr.Trim().Split('\n').Length, r.StdErr);
    }

    [TestMethod]
    public void AnOutputUnderAFileIsAnIOErrorWithExitCode2()
    {
        string dir = TempDir(), text = WriteText(dir), blocker = Path.Combine(dir, "a-file");
        File.WriteAllText(blocker, "not a directory");
        var r = Train(text, Path.Combine(blocker, "out"), "--steps", "2");
        Assert.AreEqual(2, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdErr, "cannot create the output directory");
    }

    [TestMethod]
    public void ResumingWithAnotherShapeNamesTheFieldAndBothValues()
    {
        var (_, text, output) = TwoStepRun.Value;
        var wider = Tiny.ToArray();
        wider[Array.IndexOf(wider, "--dim") + 1] = "32";
        var r = CliRunner.Run(["train", "--data", text, "--output", output, .. wider, "--steps", "4", "--resume"]);
        Assert.AreEqual(1, r.ExitCode);
        StringAssert.Contains(r.StdErr, "hidden_dim = 16 in the checkpoint, 32 in this run");
        Assert.IsFalse(r.StdErr.Contains("   at "), "no stack trace");
    }

    [TestMethod]
    public void ExportWithATokenizerOfAnotherSizeIsRefusedAndWritesNothing()
    {
        var (dir, text, output) = TwoStepRun.Value;
        string exported = Path.Combine(dir, "x.bitt");
        var r = CliRunner.Run("export", output, "--tokenizer", OtherTokenizer(TempDir(), text), "--output", exported);
        Assert.AreEqual(1, r.ExitCode);
        StringAssert.Contains(r.StdErr, "tokenizer has 280 tokens but the checkpoint's vocab_size is 300");
        Assert.IsFalse(File.Exists(exported));
    }

    [TestMethod]
    public void AVocabSizeThatContradictsTheTokenizerIsAnErrorNotIgnored()
    {
        string dir = TempDir(), text = WriteText(dir), other = OtherTokenizer(dir, text);
        var r = Train(text, Path.Combine(dir, "mismatch"), "--steps", "2", "--tokenizer", other);
        Assert.AreEqual(1, r.ExitCode);
        StringAssert.Contains(r.StdErr, "--vocab-size 300 does not match");
        StringAssert.Contains(r.StdErr, "other.json, which has 280 tokens");
        Assert.IsFalse(File.Exists(Path.Combine(dir, "mismatch", "checkpoint.safetensors")));
    }

    [TestMethod]
    public void AGivenTokenizerSetsTheVocabulary()
    {
        string dir = TempDir(), text = WriteText(dir), other = OtherTokenizer(dir, text);
        var r = CliRunner.Run(["train", "--data", text, "--output", Path.Combine(dir, "given"), "--tokenizer", other, .. Tiny[2..], "--steps", "1"]);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        Assert.AreEqual(280, BitLlamaConfig.Load(Path.Combine(dir, "given", "config.json")).VocabSize);
    }

    [TestMethod]
    public void Gpt2IsAcceptedAsTheTokenizerOfTrainAndExport()
    {
        string dir = TempDir(), text = WriteText(dir, 100), output = Path.Combine(dir, "gpt2");
        var r = CliRunner.Run(["train", "--data", text, "--output", output, "--tokenizer", "gpt2", .. Tiny[2..], "--steps", "1"]);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        Assert.AreEqual(50257, BitLlamaConfig.Load(Path.Combine(output, "config.json")).VocabSize);
        r = CliRunner.Run("export", output, "--tokenizer", "gpt2", "--output", Path.Combine(dir, "gpt2.bitt"));
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        var logits = CliRunner.Run("logits", Path.Combine(dir, "gpt2.bitt"), "--tokens", "50256,31373");
        Assert.AreEqual(0, logits.ExitCode, logits.StdErr);
    }

    [TestMethod]
    public void CtrlCStopsAfterTheCurrentStepWithACheckpoint()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) Assert.Inconclusive("sends SIGINT with kill(1)");
        string dir = TempDir(), text = WriteText(dir), output = Path.Combine(dir, "out");
        // A process started in the background by a non-interactive shell (as CI may start .ci/run) inherits SIGINT
        // as ignored, and .NET leaves an inherited SIG_IGN alone, as Unix programs should: Ctrl+C is then not
        // for them. GNU env's --default-signal gives the child the default disposition, as at a terminal.
        var psi = new ProcessStartInfo(OperatingSystem.IsLinux() ? "env" : "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        if (OperatingSystem.IsLinux()) foreach (var a in (string[])["--default-signal=INT", "dotnet"]) psi.ArgumentList.Add(a);
        foreach (var a in (string[])["bit-llama.dll", "train", "--data", text, "--output", output, .. Tiny, "--steps", "1000000", "--save-interval", "5"])
            psi.ArgumentList.Add(a == "bit-llama.dll" ? Path.Combine(AppContext.BaseDirectory, a) : a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        string checkpoint = Path.Combine(output, "checkpoint.safetensors");
        var clock = Stopwatch.StartNew();
        while (!File.Exists(checkpoint) && !p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(50);
        Assert.IsTrue(File.Exists(checkpoint), "no checkpoint appeared: " + (p.HasExited ? stderr.Result : "still running"));
        using (var kill = Process.Start("kill", ["-INT", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
        if (!p.WaitForExit(TimeSpan.FromMinutes(1)))
        {
            p.Kill();
            p.WaitForExit();
            Assert.Fail($"did not stop within a minute of SIGINT; stdout:\n{stdout.Result}\nstderr:\n{stderr.Result}");
        }
        Assert.AreEqual(130, p.ExitCode, stderr.Result);
        StringAssert.Contains(stderr.Result, "stopping after the current step");
        var match = System.Text.RegularExpressions.Regex.Match(stdout.Result, @"stopped at step (\d+) of 1000000");
        Assert.IsTrue(match.Success, stdout.Result);
        int stoppedAt = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

        var resumed = Train(text, output, "--steps", "1000000", "--resume", "--stop-after-steps", "2");
        Assert.AreEqual(0, resumed.ExitCode, resumed.StdErr);
        StringAssert.Contains(resumed.StdOut, $"stopped at step {stoppedAt + 2} of 1000000");
    }
}

[TestClass]
public sealed class EvalCommandTests
{
    [TestMethod]
    public void EvalPrintsLossBitsPerByteCopyScoreAndBaselines()
    {
        string dir = Path.Combine(Path.GetTempPath(), "bitttt-cli-eval-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var rng = new Random(8);
            string[] words = ["the", "whale", "sea", "ship", "white", "dark", "water", "and", "of"];
            string Sentences(int n) => string.Concat(Enumerable.Range(0, n).Select(_ => string.Join(' ', Enumerable.Range(0, 6).Select(_ => words[rng.Next(words.Length)])) + ".\n"));
            string text = Path.Combine(dir, "text.txt"), held = Path.Combine(dir, "held.txt");
            File.WriteAllText(text, Sentences(300));
            File.WriteAllText(held, Sentences(20));
            string output = Path.Combine(dir, "out");
            var train = CliRunner.Run("train", "--data", text, "--output", output, "--vocab-size", "300", "--dim", "16", "--layers", "1",
                "--context-len", "16", "--batch-size", "4", "--threads", "1", "--warmup-steps", "2", "--eval-interval", "0", "--steps", "3");
            Assert.AreEqual(0, train.ExitCode, train.StdErr);
            string model = Path.Combine(output, "model.bitt");

            var r = CliRunner.Run("eval", model, "--data", held, "--train-data", text, "--copy-tokens", "20");
            Assert.AreEqual(0, r.ExitCode, r.StdErr);
            StringAssert.Matches(r.StdOut, new System.Text.RegularExpressions.Regex(@"loss \d+\.\d{4} nats/token   \d+\.\d{4} bits/byte   perplexity \d+\.\d\d"));
            StringAssert.Contains(r.StdOut, "a 20-token passage fed twice");
            StringAssert.Contains(r.StdOut, "KN-trigram");
            StringAssert.Matches(r.StdOut, new System.Text.RegularExpressions.Regex(@"model \d+\.\d\d nats: "));

            var cut = CliRunner.Run("eval", output, "--data", held, "--max-tokens", "30");
            Assert.AreEqual(0, cut.ExitCode, cut.StdErr);
            StringAssert.Contains(cut.StdOut, "30 tokens (the first 30; --max-tokens)");
            Assert.IsFalse(cut.StdOut.Contains("KN-trigram"), "no baselines without --train-data");

        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
