using System.Text;

namespace BitTtt.Core.Tests;

/// <summary>
/// The text rule (UTF-8, no NUL byte) checked while a file is read in pieces must give the answer of the obvious
/// whole-buffer check: same verdict, same kind of problem, same byte offset, wherever the pieces are cut.
/// </summary>
[TestClass]
public sealed class TextCheckTests
{
    /// <summary>The reference: decode everything at once, find the first bad byte and the first NUL, report the earlier.</summary>
    static string? Reference(byte[] bytes)
    {
        int nul = Array.IndexOf(bytes, (byte)0);
        int i = 0, invalid = -1;
        while (i < bytes.Length)
        {
            if (Rune.DecodeFromUtf8(bytes.AsSpan(i), out _, out int n) != System.Buffers.OperationStatus.Done) { invalid = i; break; }
            i += n;
        }
        if (invalid >= 0 && (nul < 0 || invalid < nul)) return $"f: invalid UTF-8 at byte offset {invalid}; expected UTF-8 text (a binary file, or another encoding?)";
        return nul >= 0 ? $"f: NUL byte at offset {nul}; expected UTF-8 text, this looks like a binary file" : null;
    }

    static string? Streamed(byte[] bytes, Random rng)
    {
        var check = new TextCheck("f");
        try
        {
            for (int at = 0; at < bytes.Length;)
            {
                int n = Math.Min(bytes.Length - at, rng.Next(0, 9));   // pieces of 0..8 bytes cut sequences everywhere
                check.Append(bytes.AsSpan(at, n));
                at += n;
            }
            check.Complete();
            return null;
        }
        catch (ArgumentException e)
        {
            return e.Message;
        }
    }

    static byte[] RandomText(Random rng)
    {
        var text = new StringBuilder();
        int length = rng.Next(0, 40);
        for (int i = 0; i < length; i++)
            text.Append(rng.Next(4) switch
            {
                0 => (char)rng.Next(0x20, 0x7F),                 // 1 byte
                1 => (char)rng.Next(0xA0, 0x800),                // 2 bytes
                2 => (char)rng.Next(0x800, 0xD800),              // 3 bytes
                _ => char.ConvertFromUtf32(rng.Next(0x10000, 0x110000)),   // 4 bytes
            });
        byte[] bytes = Encoding.UTF8.GetBytes(text.ToString());
        if (bytes.Length > 0 && rng.Next(3) == 0) bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);   // corrupt one byte
        if (rng.Next(6) == 0) bytes = bytes[..rng.Next(bytes.Length + 1)];                              // cut anywhere
        return bytes;
    }

    [TestMethod]
    public void StreamedCheckAgreesWithTheWholeBufferReference()
    {
        var rng = new Random(11);
        int bad = 0;
        for (int trial = 0; trial < 20_000; trial++)
        {
            byte[] bytes = RandomText(rng);
            string? expected = Reference(bytes);
            bad += expected is null ? 0 : 1;
            Assert.AreEqual(expected, Streamed(bytes, rng), Convert.ToHexString(bytes));
            string? whole;
            try { TextCheck.Check(bytes, "f"); whole = null; }
            catch (ArgumentException e) { whole = e.Message; }
            Assert.AreEqual(expected, whole, Convert.ToHexString(bytes));
        }
        Assert.IsTrue(bad > 2000 && bad < 18_000, $"{bad} of 20,000 inputs were not text: both verdicts are exercised");
    }

    [TestMethod]
    public void TrainingTextRefusesWhatIsNotTextAtItsOffset()
    {
        string dir = Directory.CreateTempSubdirectory("bitttt-text-").FullName;
        try
        {
            string path = Path.Combine(dir, "t.txt");
            // The bad byte lies past the reader's first 64 KB buffer, after multi-byte text cut at buffer edges.
            byte[] text = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("Ахав и кит 🐋 ", 20_000)));
            File.WriteAllBytes(path, [.. text, 0xC3, 0x28]);
            using (var reader = TrainingText.Open(path))
                Assert.AreEqual($"{path}: invalid UTF-8 at byte offset {text.Length}; expected UTF-8 text (a binary file, or another encoding?)",
                    Assert.ThrowsExactly<ArgumentException>(() => reader.ReadToEnd()).Message);
            File.WriteAllBytes(path, [.. "\uFEFF"u8, .. text]);   // a byte-order mark and text: fine
            using (var reader = TrainingText.Open(path))
                Assert.AreEqual(Encoding.UTF8.GetString(text), reader.ReadToEnd());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    public void AtomicWriteErrorsNameTheTargetNotTheTemporaryFile()
    {
        string dir = Directory.CreateTempSubdirectory("bitttt-atomic-").FullName;
        try
        {
            string blocker = Path.Combine(dir, "a-file");
            File.WriteAllText(blocker, "x");
            string under = Path.Combine(blocker, "out.bin");
            var e = Assert.ThrowsExactly<IOException>(() => AtomicFile.WriteAllText(under, "data"));
            StringAssert.StartsWith(e.Message, $"{under}: cannot write the file (cannot create the folder {blocker}: ");

            if (OperatingSystem.IsLinux())
            {
                e = Assert.ThrowsExactly<IOException>(() => AtomicFile.WriteAllText("/proc/out.bin", "data"));
                Assert.AreEqual("/proc/out.bin: cannot write the file (/proc does not take new files)", e.Message);
            }

            string asDirectory = Path.Combine(dir, "target");
            Directory.CreateDirectory(asDirectory);
            e = Assert.ThrowsExactly<IOException>(() => AtomicFile.WriteAllText(asDirectory, "data"));
            StringAssert.StartsWith(e.Message, $"{asDirectory}: cannot write the file (");
            Assert.IsFalse(e.Message.Contains(".tmp", StringComparison.Ordinal), e.Message);
            CollectionAssert.AreEquivalent(new[] { "a-file", "target" }, Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).ToArray());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
