using Microsoft.ML;

namespace BitTtt.MLNet.Tests;

/// <summary>SaveAsBitt / LoadBitt on streams, and paths that cannot be written: one clear error, nothing partial.</summary>
[TestClass]
public sealed class StreamAndPathTests
{
    [TestMethod]
    public void SaveAsBitt_ToAStream_LoadBitt_FromAStream_GivesTheSameModel()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(TinyModels.WriteSeeded());
        using var buffer = new MemoryStream();
        buffer.Write("prefix"u8);
        ml.Model.SaveAsBitt(model, buffer);
        Assert.IsTrue(buffer.CanWrite, "the stream stays open");
        string path = TinyCorpus.NewPath("copy.bitt");
        ml.Model.SaveAsBitt(model, path);
        CollectionAssert.AreEqual(File.ReadAllBytes(path), buffer.ToArray()[6..], "the stream holds exactly the .bitt file, after what was there");

        buffer.Position = 6;
        using var loaded = ml.Model.LoadBitt(buffer);
        Assert.AreEqual(model.Generate("the whale"), loaded.Generate("the whale"));
        Assert.AreEqual(model.PromptColumnName, loaded.PromptColumnName);
    }

    [TestMethod]
    public void SaveAsBitt_ToAReadOnlyStream_IsOneErrorAndWritesNothing()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(TinyModels.WriteSeeded());
        var bytes = new byte[16];
        using var readOnly = new MemoryStream(bytes, writable: false);
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Model.SaveAsBitt(model, readOnly));
        StringAssert.Contains(e.Message, "cannot be written");
        Assert.AreEqual(0, readOnly.Position);
        Assert.IsTrue(bytes.All(b => b == 0));
    }

    [TestMethod]
    public void SaveAsBitt_ToAPathThatCannotBeWritten_NamesItAndLeavesNoFile()
    {
        var ml = new MLContext(seed: 1);
        using var model = ml.Model.LoadBitt(TinyModels.WriteSeeded());
        string dir = TinyCorpus.NewPath("unwritable");
        Directory.CreateDirectory(dir);

        // Under a regular file: no directory can be made there (this holds even for root, unlike chmod).
        string blocker = Path.Combine(dir, "a-file");
        File.WriteAllText(blocker, "x");
        string under = Path.Combine(blocker, "model.bitt");
        var e = Assert.ThrowsExactly<IOException>(() => ml.Model.SaveAsBitt(model, under));
        StringAssert.Contains(e.Message, under);
        StringAssert.Contains(e.Message, "Nothing was written");

        // The path is an existing directory: the temporary file is removed, the directory untouched.
        string asDirectory = Path.Combine(dir, "model.bitt");
        Directory.CreateDirectory(asDirectory);
        e = Assert.ThrowsExactly<IOException>(() => ml.Model.SaveAsBitt(model, asDirectory));
        StringAssert.Contains(e.Message, asDirectory);
        CollectionAssert.AreEquivalent(new[] { "a-file", "model.bitt" }, Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).ToArray());
        Assert.IsEmpty(Directory.EnumerateFileSystemEntries(asDirectory).ToList());
    }

    [TestMethod]
    public void LoadBitt_FromABadStream_IsAClearError()
    {
        var ml = new MLContext(seed: 1);
        var notReadable = new WriteOnlyStream();
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => ml.Model.LoadBitt(notReadable)).Message, "cannot be read");
        using var junk = new MemoryStream("not a model at all"u8.ToArray());
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => ml.Model.LoadBitt(junk)).Message, "the .bitt stream");
    }

    sealed class WriteOnlyStream : MemoryStream
    {
        public override bool CanRead => false;
    }
}
