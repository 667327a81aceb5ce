using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using BitTtt.Formats;

namespace BitTtt.Core.Tests.Formats;

/// <summary>Reading and writing stream per tensor: the managed heap grows by the tensor asked for, not the file.</summary>
[TestClass]
public sealed class SafeTensorsMemoryTests
{
    const long Slack = 1 << 20;   // headers, dictionaries, the JSON document

    /// <summary>A sparse file (no disk or time spent on the zeros) with one tensor and a marker in its last element.</summary>
    static void WriteSparse(string path, string dtype, long elements, int elementSize, byte[] lastElement)
    {
        var header = Encoding.UTF8.GetBytes($$$"""{"big":{"dtype":"{{{dtype}}}","shape":[{{{elements}}}],"data_offsets":[0,{{{elements * elementSize}}}]}}""");
        using var fs = new FileStream(path, FileMode.CreateNew);
        Span<byte> n = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(n, (ulong)header.Length);
        fs.Write(n);
        fs.Write(header);
        fs.SetLength(8 + header.Length + elements * elementSize);
        fs.Seek(-elementSize, SeekOrigin.End);
        fs.Write(lastElement);
    }

    [TestMethod]
    public void A200MegabyteTensorCostsTheHeapOnlyItsOwnArray()
    {
        using var dir = new TempDir();
        string path = dir.File("big.safetensors");
        const long elements = 50L << 20;                      // 200 MB of F32
        WriteSparse(path, "F32", elements, 4, BitConverter.GetBytes(3.5f));
        var clock = Stopwatch.StartNew();

        long start = GC.GetAllocatedBytesForCurrentThread();
        using var reader = SafeTensorsReader.Open(path);
        long opened = GC.GetAllocatedBytesForCurrentThread();
        Assert.IsTrue(opened - start < Slack, $"Open allocated {opened - start} bytes");

        float[] data = reader.ReadFloat32("big");
        long read = GC.GetAllocatedBytesForCurrentThread();
        Assert.AreEqual(elements, data.LongLength);
        Assert.AreEqual(3.5f, data[^1]);
        Assert.AreEqual(0f, data[elements / 2]);
        Assert.IsTrue(read - opened <= elements * 4 + Slack, $"ReadFloat32 allocated {read - opened} bytes for a {elements * 4}-byte tensor");

        data[^1] = 0;
        reader.ReadFloat32("big", data);
        Assert.IsTrue(GC.GetAllocatedBytesForCurrentThread() - read < Slack, "reading into a caller's buffer must not allocate");
        Assert.AreEqual(3.5f, data[^1]);
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    [TestMethod]
    public void Bf16ConversionUsesNoTemporaryBuffer()
    {
        using var dir = new TempDir();
        string path = dir.File("bf16.safetensors");
        const long elements = 8L << 20;
        WriteSparse(path, "BF16", elements, 2, [0xC0, 0x40]);   // 0x40C0 = 6.0f
        using var reader = SafeTensorsReader.Open(path);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var data = reader.ReadFloat32("big");
        Assert.IsTrue(GC.GetAllocatedBytesForCurrentThread() - before <= elements * 4 + Slack);
        Assert.AreEqual(6f, data[^1]);
    }

    [TestMethod]
    public void WriterStreamsWithoutCopyingTheData()
    {
        var big = new float[16 << 20];
        big[^1] = 1;
        var tensors = new List<SafeTensorData> { new("a", [4, 4 << 20], big), new("b", [16 << 20], big) };
        var counter = new CountingStream();
        long before = GC.GetAllocatedBytesForCurrentThread();
        SafeTensorsWriter.Write(counter, tensors);
        Assert.IsTrue(GC.GetAllocatedBytesForCurrentThread() - before < Slack, "the writer must not build the file in memory");
        Assert.AreEqual(2L * big.Length * 4, counter.Length - counter.HeaderLength - 8);
    }

    sealed class CountingStream : Stream
    {
        long _length;
        public long HeaderLength { get; private set; } = -1;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            // Writes arrive as: 8-byte length, header, tensor data.
            if (_length == 8 && HeaderLength < 0) HeaderLength = buffer.Length;
            _length += buffer.Length;
        }
    }
}
