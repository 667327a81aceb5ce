using System.Buffers.Binary;
using System.Text;
using BitTtt.Formats;

namespace BitTtt.Core.Tests.Formats;

/// <summary>A temporary directory deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "bitttt-formats-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Builders for hand-made files, so tests control every byte.</summary>
internal static class TestFiles
{
    /// <summary>u64 LE header length + header text (unpadded) + buffer.</summary>
    public static byte[] SafeTensors(string header, byte[] buffer) => SafeTensors(Encoding.UTF8.GetBytes(header), buffer);

    public static byte[] SafeTensors(byte[] header, byte[] buffer)
    {
        var bytes = new byte[8 + header.Length + buffer.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        buffer.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    /// <summary>"BITT" + u64 LE header length + header text + body.</summary>
    public static byte[] Bitt(string header, byte[] body)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[12 + h.Length + body.Length];
        "BITT"u8.CopyTo(bytes);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(4), (ulong)h.Length);
        h.CopyTo(bytes, 12);
        body.CopyTo(bytes, 12 + h.Length);
        return bytes;
    }

    public static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        return bytes;
    }

    public const string TokenizerJson = """{"version":"1.0","model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":[]},"added_tokens":[]}""";

    /// <summary>Asserts that <paramref name="action"/> throws a format error whose text contains every fragment.</summary>
    public static BitLlamaFormatException AssertFormatError(Action action, params string[] fragments)
    {
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(action);
        foreach (var f in fragments)
            Assert.IsTrue(e.Message.Contains(f, StringComparison.Ordinal), $"expected '{f}' in: {e.Message}");
        return e;
    }
}
