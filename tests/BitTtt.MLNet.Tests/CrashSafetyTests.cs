using System.Diagnostics;
using BitTtt.Inference;
using BitTtt.MLNet;
using Microsoft.ML;

namespace BitTtt.MLNet.Tests;

/// <summary>
/// SIGKILL at random moments while a child process (tests/BitTtt.CrashWriter) rewrites one file over and over
/// with <c>ml.Model.SaveAsBitt</c> or <c>LlamaSession.SaveMemory</c>, alternating between two versions: after every
/// kill the file is byte for byte one of the two complete versions, and the next write leaves no temporary.
/// </summary>
[TestClass]
public sealed class CrashSafetyTests
{
    const int Kills = 20;

    static string NewDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "bitttt-crash-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>A 16-wide random model (nothing trains) as a .bitt.</summary>
    static string WriteModel(string dir, string name, int seed) =>
        TinyModels.WriteBitt(Path.Combine(dir, name), TinyModels.Config(vocab: RandomModel.DefaultVocabSize, dim: 16, layers: 1), seed);

    static Process StartWriter(params string[] args) => WriteWatcher.StartChild("BitTtt.CrashWriter.dll", args);

    /// <summary>
    /// Kills the writer <see cref="Kills"/> times, each during one of its first writes; after each kill <paramref name="target"/>
    /// is absent (no write finished yet) or equal to one of <paramref name="versions"/>. Then one complete run must leave
    /// no temporary. Returns how many kills left a temporary (landed inside a write).
    /// </summary>
    static int KillRepeatedly(string target, string[] writerArgs, byte[][] versions)
    {
        string dir = Path.GetDirectoryName(target)!, name = Path.GetFileName(target);
        using var watcher = new WriteWatcher(dir);
        var rng = new Random(writerArgs[0] == "bitt" ? 11 : 12);
        int kills = 0, midWrite = 0, runs = 0;
        for (; kills < Kills && runs < 2 * Kills; runs++)
        {
            watcher.Expect("." + name + ".");
            var p = StartWriter(writerArgs);
            if (!watcher.WaitFor(1 + rng.Next(4), p))
            {
                p.WaitForExit();
                Assert.Fail($"the writer ended without being killed (exit {p.ExitCode})");
            }
            WriteWatcher.Kill(p, rng);
            kills++;
            if (WriteWatcher.Temporaries(dir).Length > 0) midWrite++;
            if (!File.Exists(target)) continue;
            byte[] found = File.ReadAllBytes(target);
            Assert.IsTrue(versions.Any(v => v.AsSpan().SequenceEqual(found)),
                $"kill {kills}: {name} is neither complete version ({found.Length} bytes; the versions have {string.Join(", ", versions.Select(v => v.Length))})");
        }
        using (var last = StartWriter([.. writerArgs, "once"]))
        {
            Assert.IsTrue(last.WaitForExit(TimeSpan.FromMinutes(2)), "the writer's 'once' run did not end");
            Assert.AreEqual(0, last.ExitCode);
        }
        CollectionAssert.AreEqual(Array.Empty<string>(), WriteWatcher.Temporaries(dir), "temporaries of killed writers remain after the next write");
        CollectionAssert.AreEqual(versions[^1], File.ReadAllBytes(target));
        Console.WriteLine($"{name}: {kills} kills, {midWrite} left a temporary");
        return midWrite;
    }

    [TestMethod]
    public void SigkillDuringSaveAsBittLeavesThePreviousOrTheNewFile()
    {
        string dir = NewDir(), a = WriteModel(dir, "a.bitt", 1), b = WriteModel(dir, "b.bitt", 2);
        string output = Path.Combine(dir, "out"), target = Path.Combine(output, "model.bitt");
        Directory.CreateDirectory(output);
        // The two versions, written the same way in this process.
        var ml = new MLContext(seed: 1);
        byte[] Saved(string model)
        {
            string path = Path.Combine(dir, "expected-" + Path.GetFileName(model));
            using var t = ml.Model.LoadBitt(model);
            ml.Model.SaveAsBitt(t, path);
            return File.ReadAllBytes(path);
        }
        byte[][] versions = [Saved(a), Saved(b)];
        Assert.IsFalse(versions[0].AsSpan().SequenceEqual(versions[1]), "the two versions must differ");
        int midWrite = KillRepeatedly(target, ["bitt", a, b, target], versions);
        Assert.IsTrue(midWrite >= 3, $"only {midWrite} of {Kills} kills landed inside a write");
        Directory.Delete(dir, recursive: true);
    }

    [TestMethod]
    public void SigkillDuringSaveMemoryLeavesThePreviousOrTheNewFile()
    {
        string dir = NewDir(), model = WriteModel(dir, "a.bitt", 1);
        string output = Path.Combine(dir, "out"), target = Path.Combine(output, "m.bttm");
        Directory.CreateDirectory(output);
        using var llama = Llama.LoadAuto(model);
        byte[] Saved(string text, string name)
        {
            using var session = llama.CreateSession();
            session.Learn(text);
            string path = Path.Combine(dir, name);
            session.SaveMemory(path);
            return File.ReadAllBytes(path);
        }
        byte[][] versions = [Saved(MemoryTexts.First, "first.bttm"), Saved(MemoryTexts.Second, "second.bttm")];
        Assert.IsFalse(versions[0].AsSpan().SequenceEqual(versions[1]), "the two versions must differ");
        int midWrite = KillRepeatedly(target, ["memory", model, target], versions);
        Assert.IsTrue(midWrite >= 3, $"only {midWrite} of {Kills} kills landed inside a write");
        Directory.Delete(dir, recursive: true);
    }
}
