namespace BitTtt.Training.Tests;

[TestClass]
public sealed class TokenFileTests
{
    public TestContext TestContext { get; set; } = null!;

    static readonly TempRoot Temp = new("bitttt-training-tests");

    internal static string TempDir() => Temp.NewDirectory();

    // Assembly-wide: the trainer and loss-curve tests take their directories from TempDir too.
    [AssemblyCleanup]
    public static void DeleteTempDirs() => Temp.Delete();

    internal static string Write(string path, IEnumerable<int> ids)
    {
        using var writer = new TokenFileWriter(path);
        writer.Append(ids.ToArray());
        writer.Commit();
        return path;
    }

    [TestMethod]
    public void RoundTripsIdsThroughTheMemoryMappedFile()
    {
        var ids = Enumerable.Range(0, 10_007).Select(i => (i * 7919) % 50_000 - 3).ToArray();
        string path = Path.Combine(TempDir(), "tokens.bin");
        using (var writer = new TokenFileWriter(path))
        {
            writer.Append(ids.AsSpan(0, 5000));
            writer.Append(ids.AsSpan(5000));
            Assert.AreEqual(10_007L, writer.Count);
            writer.Commit();
        }
        using var file = TokenFile.Open(path);
        Assert.AreEqual(ids.Length, file.Count);
        Assert.AreEqual(ids[1234], file[1234]);
        var range = new int[333];
        file.CopyTo(9000, range);
        CollectionAssert.AreEqual(ids.AsSpan(9000, 333).ToArray(), range);
        Assert.AreEqual((ids.Min(), ids.Max()), file.Range());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => file.CopyTo(10_000, new int[8]));
    }

    [TestMethod]
    public void UncommittedWriterLeavesNoFileAndKeepsTheOldOne()
    {
        string dir = TempDir(), path = Path.Combine(dir, "tokens.bin");
        Write(path, [1, 2, 3]);
        using (var writer = new TokenFileWriter(path)) writer.Append([9, 9, 9, 9]);
        using var file = TokenFile.Open(path);
        Assert.AreEqual(3L, file.Count);
        Assert.AreEqual(1, Directory.GetFiles(dir).Length, string.Join(", ", Directory.GetFiles(dir)));
    }

    [TestMethod]
    public void TruncatedOrForeignFilesAreRejectedWithTheReason()
    {
        string dir = TempDir(), path = Path.Combine(dir, "tokens.bin");
        Write(path, [1, 2, 3, 4]);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^2]);
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => TokenFile.Open(path));
        StringAssert.Contains(e.Message, "truncated");
        File.WriteAllText(path, "hello, not tokens at all");
        e = Assert.ThrowsExactly<BitLlamaFormatException>(() => TokenFile.Open(path));
        StringAssert.Contains(e.Message, "magic");
        Assert.ThrowsExactly<FileNotFoundException>(() => TokenFile.Open(Path.Combine(dir, "missing.bin")));
    }
}
