using System.Diagnostics;
using System.Text;
using BitTtt.Formats;
using BitTtt.Tokenization;
using BitTtt.Training;

namespace BitTtt.Cli.Tests;

/// <summary>
/// SIGKILL at random moments while <c>bit-llama train</c> and <c>bit-llama export</c> write: every file on disk
/// must be a complete version (the previous or the new), the next run must remove what the killed one left,
/// and <c>--resume</c> must continue. Disk-full runs on a 96 KB tmpfs in a private mount namespace.
/// </summary>
[TestClass]
public sealed class CrashSafetyTests
{
    // --steps bounds every run: a run whose write was never caught ends after a few steps, not after the schedule.
    static readonly string[] Tiny =
        ["--vocab-size", "300", "--dim", "16", "--layers", "1", "--context-len", "16", "--batch-size", "2", "--threads", "1",
         "--warmup-steps", "1", "--eval-interval", "0", "--save-interval", "1", "--steps", "1000"];

    static string NewDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "bitttt-crash-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    static string WriteText(string dir)
    {
        var rng = new Random(3);
        string[] words = ["the", "whale", "sea", "ship", "white", "ahab", "deck", "wind", "and", "of", "a", "dark"];
        var text = new StringBuilder();
        for (int s = 0; s < 300; s++) text.AppendJoin(' ', Enumerable.Range(0, 6).Select(_ => words[rng.Next(words.Length)])).Append(".\n");
        string path = Path.Combine(dir, "text.txt");
        File.WriteAllText(path, text.ToString());
        return path;
    }

    static Process Start(params string[] args) => WriteWatcher.StartChild("bit-llama.dll", args);

    static string[] Temporaries(string dir) => WriteWatcher.Temporaries(dir);

    static void Kill(Process p, Random rng) => WriteWatcher.Kill(p, rng);

    /// <summary>Every file of a training output that exists opens completely.</summary>
    static void AssertComplete(string output, string when)
    {
        string F(string name) => Path.Combine(output, name);
        try
        {
            if (File.Exists(F("checkpoint.safetensors")))
                using (var r = SafeTensorsReader.Open(F("checkpoint.safetensors")))
                    Assert.IsTrue(r.Metadata.ContainsKey("step"), "checkpoint without metadata");
            foreach (var tokens in new[] { "tokens.bin", "val.bin" })
                if (File.Exists(F(tokens))) TokenFile.Open(F(tokens)).Dispose();
            if (File.Exists(F("tokenizer.json"))) BitLlamaTokenizer.Load(F("tokenizer.json"));
            if (File.Exists(F("config.json"))) BitLlamaConfig.Load(F("config.json"));
            if (File.Exists(F("model.safetensors"))) SafeTensorsReader.Open(F("model.safetensors")).Dispose();
            if (File.Exists(F("model.bitt"))) ModelPackage.Open(F("model.bitt")).Dispose();
            if (File.Exists(F("config.json")) && File.Exists(F("model.safetensors"))) ModelPackage.Open(output).Dispose();
        }
        catch (Exception e) when (e is BitLlamaFormatException or IOException)
        {
            Assert.Fail($"{when}: a torn file: {e.Message}");
        }
    }

    static int CheckpointStep(string output)
    {
        using var r = SafeTensorsReader.Open(Path.Combine(output, "checkpoint.safetensors"));
        return int.Parse(r.Metadata["step"], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A write the next run will make, and the arguments that make it soon.</summary>
    sealed record Target(string Fragment, int Nth, string[] Extra);

    /// <summary>
    /// Without a checkpoint the run starts over (tokenizer, token files, first checkpoints); with one it resumes,
    /// writes a checkpoint every step and, told to stop, the model files.
    /// </summary>
    static Target PickTarget(bool resume, Random rng)
    {
        if (!resume)
            return rng.Next(4) switch
            {
                0 => new(".tokenizer.json.", 1, ["--stop-after-steps", "2"]),
                1 => new(".tokens.bin.", 1, ["--stop-after-steps", "2"]),
                _ => new(".checkpoint.safetensors.", 1 + rng.Next(2), ["--stop-after-steps", "3"]),
            };
        string[] stop = ["--resume", "--stop-after-steps", "1"];
        return rng.Next(5) switch
        {
            0 => new(".model.bitt.", 1, stop),
            1 => new(".model.safetensors.", 1, stop),
            2 => new(".config.json.", 1, stop),
            _ => new(".checkpoint.safetensors.", 1 + rng.Next(3), ["--resume", "--stop-after-steps", "3"]),
        };
    }

    [TestMethod]
    public void SigkillDuringTrainingWritesLeavesCompleteFilesAndResumeContinues()
    {
        string dir = NewDir(), text = WriteText(dir), output = Path.Combine(dir, "out");
        Directory.CreateDirectory(output);
        using var watcher = new WriteWatcher(output);
        var rng = new Random(20261201);
        int kills = 0, killsMidWrite = 0, rounds = 0;
        for (; kills < 20 && rounds < 40; rounds++)
        {
            bool resume = File.Exists(Path.Combine(output, "checkpoint.safetensors"));
            int before = resume ? CheckpointStep(output) : 0;
            var target = PickTarget(resume, rng);
            watcher.Expect(target.Fragment);
            var p = Start(["train", "--data", text, "--output", output, .. Tiny, .. target.Extra]);
            if (!watcher.WaitFor(target.Nth, p))
            {
                p.WaitForExit();
                Assert.AreEqual(0, p.ExitCode, $"round {rounds}: a run failed before writing '{target.Fragment}'");
                AssertComplete(output, $"round {rounds} (ended before '{target.Fragment}' #{target.Nth} was written)");
                continue;
            }
            Kill(p, rng);
            kills++;
            if (Temporaries(output).Length > 0) killsMidWrite++;
            AssertComplete(output, $"kill {kills} during '{target.Fragment}' #{target.Nth}");
            // The checkpoint on disk is the one before the kill or a later one: never lost, never older.
            if (resume) Assert.IsTrue(CheckpointStep(output) >= before, $"kill {kills}: the checkpoint went back from step {before} to {CheckpointStep(output)}");
        }
        Assert.AreEqual(20, kills, $"too few writes were caught to kill in {rounds} rounds");
        Assert.IsTrue(killsMidWrite >= 3, $"only {killsMidWrite} of {kills} kills landed while a temporary existed (the kills are not reaching the writes)");
        Assert.IsTrue(File.Exists(Path.Combine(output, "checkpoint.safetensors")), "no checkpoint survived 20 kills");

        // The next run removes the temporaries of the killed ones and continues from the checkpoint.
        int last = CheckpointStep(output);
        var r = CliRunner.Run(["train", "--data", text, "--output", output, .. Tiny, "--resume", "--stop-after-steps", "1"]);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        Assert.AreEqual(last + 1, CheckpointStep(output), $"--resume did not continue from the checkpoint of step {last}:\n{r.StdOut}\n{r.StdErr}");
        CollectionAssert.AreEqual(Array.Empty<string>(), Temporaries(output), "temporary files of killed runs remain");
        AssertComplete(output, "after the resumed run");

        // The chain of killed and resumed runs ends bit-identical to one uninterrupted run of as many steps.
        string straight = Path.Combine(dir, "straight");
        var u = CliRunner.Run(["train", "--data", text, "--output", straight, .. Tiny, "--stop-after-steps", (last + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.AreEqual(0, u.ExitCode, u.StdErr);
        CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(straight, "model.safetensors")), File.ReadAllBytes(Path.Combine(output, "model.safetensors")),
            $"the resumed chain ({kills} kills in {rounds} runs, step {last + 1}) differs from an uninterrupted run");
        Console.WriteLine($"{kills} kills ({killsMidWrite} left a temporary) in {rounds} runs; resumed to step {last + 1}");
        Directory.Delete(dir, recursive: true);
    }

    [TestMethod]
    public void SigkillDuringExportLeavesThePreviousOrTheNewModelDirectory()
    {
        string dir = NewDir(), text = WriteText(dir), output = Path.Combine(dir, "out"), export = Path.Combine(dir, "exported");
        var train = CliRunner.Run(["train", "--data", text, "--output", output, .. Tiny, "--stop-after-steps", "2"]);
        Assert.AreEqual(0, train.ExitCode, train.StdErr);
        var rng = new Random(7);
        int kills = 0;
        using var watcher = new WriteWatcher(dir);
        for (int round = 0; kills < 6 && round < 20; round++)
        {
            watcher.Expect(".exported.");
            var p = Start("export", output, "--output", export);
            if (!watcher.WaitFor(1, p)) { p.WaitForExit(); continue; }
            Kill(p, rng);
            kills++;
            // Never a directory without config.json: absent (no export finished yet) or a complete model.
            if (Directory.Exists(export)) ModelPackage.Open(export).Dispose();
        }
        Assert.IsTrue(kills >= 3, $"only {kills} exports were caught while writing");
        var r = CliRunner.Run("export", output, "--output", export);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        ModelPackage.Open(export).Dispose();
        CollectionAssert.AreEqual(Array.Empty<string>(), Temporaries(dir), "temporaries of killed exports remain");
        Directory.Delete(dir, recursive: true);
    }

    [TestMethod]
    public void DiskFullLeavesThePreviousFileAndNoTemporary()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
            Assert.Inconclusive("needs root on Linux to mount a small tmpfs in a private mount namespace (unshare -m)");
        string dir = NewDir(), text = WriteText(dir), output = Path.Combine(dir, "out"), mnt = Path.Combine(dir, "mnt");
        var train = CliRunner.Run(["train", "--data", text, "--output", output, .. Tiny, "--stop-after-steps", "1"]);
        Assert.AreEqual(0, train.ExitCode, train.StdErr);
        Directory.CreateDirectory(mnt);
        string previous = Path.Combine(output, "model.bitt");
        string dll = Path.Combine(AppContext.BaseDirectory, "bit-llama.dll");
        // 96 KB holds the previous ~60 KB model.bitt but not a second copy beside it.
        string script = $"mount -t tmpfs -o size=96k tmpfs '{mnt}' || exit 99; cp '{previous}' '{mnt}/model.bitt'; " +
                        $"dotnet '{dll}' export '{output}' --output '{mnt}/model.bitt'; echo \"rc=$?\"; " +
                        $"ls -A '{mnt}'; cmp -s '{previous}' '{mnt}/model.bitt' && echo unchanged";
        var psi = new ProcessStartInfo("unshare", ["-m", "sh", "-c", script]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode == 99 || stderr.Contains("unshare:", StringComparison.Ordinal))
            Assert.Inconclusive($"cannot mount a tmpfs here: {stderr.Trim()}");
        StringAssert.Contains(stdout, "rc=2", stderr);
        StringAssert.Contains(stderr, "bit-llama: error: ");
        Assert.AreEqual(1, stderr.Trim().Split('\n').Length, $"one error line expected:\n{stderr}");
        StringAssert.Contains(stdout, "unchanged", "the previous model.bitt was damaged");
        var listing = stdout.Split('\n').Where(l => l.Length > 0 && !l.StartsWith("rc=", StringComparison.Ordinal) && l != "unchanged").ToArray();
        CollectionAssert.AreEqual(new[] { "model.bitt" }, listing, "a temporary file was left on the full disk");
        Directory.Delete(dir, recursive: true);
    }
}
