using BitTtt.Inference.Engine;

namespace BitTtt.Inference.Tests;

[TestClass]
public sealed class MemoryFileTests
{
    string _dir = null!;

    [TestInitialize]
    public void Init() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "bitttt-mem-" + Guid.NewGuid().ToString("N")));

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    [TestMethod]
    public void SavedMemoryContinuesExactlyWhereItStopped()
    {
        var c = TinyModels.Config(chunk: 4);
        var weights = TinyModels.Load(c, TinyModels.RandomWeights(c, 9));
        var a = new SequenceState(weights);
        Forward.Run(a, [1, 2, 3, 4, 5, 6], []);            // mid-chunk: G is non-zero
        string path = Path.Combine(_dir, "m.bttm");
        MemoryFile.Save(a, path);
        var b = new SequenceState(weights);
        MemoryFile.Load(b, path);
        Assert.AreEqual(6, b.Position);
        var la = new float[c.VocabSize];
        var lb = new float[c.VocabSize];
        Forward.Run(a, [7, 8, 9], la);
        Forward.Run(b, [7, 8, 9], lb);
        CollectionAssert.AreEqual(la, lb);
    }

    [TestMethod]
    public void MemoryFromAnotherModelIsRejectedNamingBoth()
    {
        var c = TinyModels.Config();
        var a = new SequenceState(TinyModels.Load(c, TinyModels.RandomWeights(c, 1)));
        string path = Path.Combine(_dir, "m.bttm");
        MemoryFile.Save(a, path);
        var sameShape = new SequenceState(TinyModels.Load(c, TinyModels.RandomWeights(c, 2)));
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => MemoryFile.Load(sameShape, path));
        StringAssert.Contains(e.Message, "another model");
        StringAssert.Contains(e.Message, a.Weights.Fingerprint[..16]);
        StringAssert.Contains(e.Message, sameShape.Weights.Fingerprint[..16]);
        var c2 = TinyModels.Config(dim: 16);
        var other = new SequenceState(TinyModels.Load(c2, TinyModels.RandomWeights(c2, 1)));
        var e2 = Assert.ThrowsExactly<BitLlamaFormatException>(() => MemoryFile.Load(other, path));
        StringAssert.Contains(e2.Message, "hidden 32");
        StringAssert.Contains(e2.Message, "hidden 16");
    }

    [TestMethod]
    public void DamagedFilesAreRejectedAndLeaveTheStateUnchanged()
    {
        var c = TinyModels.Config();
        var s = new SequenceState(TinyModels.Load(c, TinyModels.RandomWeights(c, 1)));
        Forward.Run(s, [1, 2, 3], []);
        string path = Path.Combine(_dir, "m.bttm");
        MemoryFile.Save(s, path);
        var bytes = File.ReadAllBytes(path);
        string bad = Path.Combine(_dir, "bad.bttm");
        File.WriteAllBytes(bad, bytes[..^4]);
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => MemoryFile.Load(s, bad)).Message, "bytes of TTT state");
        File.WriteAllBytes(bad, "XXXX"u8.ToArray().Concat(bytes[4..]).ToArray());
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => MemoryFile.Load(s, bad)).Message, "magic");
        File.WriteAllBytes(bad, bytes[..20]);
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => MemoryFile.Load(s, bad)).Message, "header length");
        File.WriteAllBytes(bad, []);
        Assert.ThrowsExactly<BitLlamaFormatException>(() => MemoryFile.Load(s, bad));
        Assert.ThrowsExactly<FileNotFoundException>(() => MemoryFile.Load(s, Path.Combine(_dir, "none")));
        Assert.AreEqual(3, s.Position);
    }
}
