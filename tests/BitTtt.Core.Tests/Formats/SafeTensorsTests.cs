using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using BitTtt.Formats;

namespace BitTtt.Core.Tests.Formats;

[TestClass]
public sealed class SafeTensorsTests
{
    static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 200 - 100);
        return a;
    }

    [TestMethod]
    public void RoundTripKeepsOrderShapesValuesAndMetadata()
    {
        using var dir = new TempDir();
        var tensors = new List<SafeTensorData>
        {
            new("z.first", [3, 5], Random(15, 1)),
            new("scalar", [], new float[] { 42.5f }),
            new("empty", [0], Array.Empty<float>()),
            new("empty2d", [2, 0, 3], Array.Empty<float>()),
            new("a.odd", [1, 1, 1, 13], Random(13, 2)),
            new("vec", [7], Random(7, 3)),
        };
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode" };
        string path = dir.File("t.safetensors");
        SafeTensorsWriter.WriteFile(path, tensors, metadata);

        using var reader = SafeTensorsReader.Open(path);
        CollectionAssert.AreEqual(tensors.Select(t => t.Name).ToList(), reader.Tensors.Select(t => t.Name).ToList());
        Assert.AreEqual("ünïcode", reader.Metadata["note"]);
        Assert.AreEqual("pt", reader.Metadata["format"]);
        foreach (var t in tensors)
        {
            var info = reader.Get(t.Name);
            CollectionAssert.AreEqual(t.Shape, info.Shape);
            Assert.AreEqual(SafeTensorDType.F32, info.DType);
            Assert.AreEqual(t.Data.Length, info.ElementCount);
            Assert.AreEqual(4L * t.Data.Length, info.ByteLength);
            CollectionAssert.AreEqual(t.Data.ToArray(), reader.ReadFloat32(t.Name));
        }
        Assert.AreEqual(1, reader.Get("scalar").ElementCount);
    }

    [TestMethod]
    public void WriterPadsHeaderToEightBytesAndLaysTensorsOutContiguouslyInGivenOrder()
    {
        var tensors = new List<SafeTensorData> { new("b", [3], Random(3, 4)), new("a", [2, 2], Random(4, 5)) };
        using var ms = new MemoryStream();
        SafeTensorsWriter.Write(ms, tensors);
        var bytes = ms.ToArray();
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.AreEqual(0, n % 8);
        Assert.AreEqual(8 + n + 4 * 7, bytes.Length);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.IsTrue(header.IndexOf("\"b\"", StringComparison.Ordinal) < header.IndexOf("\"a\"", StringComparison.Ordinal), header);
        using var doc = JsonDocument.Parse(header);
        Assert.AreEqual("[0,12]", doc.RootElement.GetProperty("b").GetProperty("data_offsets").GetRawText());
        Assert.AreEqual("[12,28]", doc.RootElement.GetProperty("a").GetProperty("data_offsets").GetRawText());
        Assert.IsFalse(doc.RootElement.TryGetProperty("__metadata__", out _));
        Assert.AreEqual(tensors[1].Data.Span[3], BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(8 + n + 24))));
    }

    [TestMethod]
    public void ReadsHandMadeF16File()
    {
        using var dir = new TempDir();
        Half[] values = [(Half)1.5f, (Half)(-2.25f), Half.MaxValue, Half.Epsilon, Half.NegativeInfinity, (Half)0.1f];
        var buffer = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(buffer.AsSpan(2 * i), values[i]);
        string path = dir.File("h.safetensors");
        File.WriteAllBytes(path, TestFiles.SafeTensors("""{"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]}}""", buffer));
        using var reader = SafeTensorsReader.Open(path);
        Assert.AreEqual(SafeTensorDType.F16, reader.Get("h").DType);
        Assert.AreEqual(12, reader.Get("h").ByteLength);
        CollectionAssert.AreEqual(values.Select(v => (float)v).ToArray(), reader.ReadFloat32("h", 2, 3));
    }

    [TestMethod]
    public void ReadsHandMadeBf16FileAcrossVectorAndScalarPaths()
    {
        using var dir = new TempDir();
        var rng = new Random(7);
        for (int n = 0; n <= 70; n += 7)
        {
            // BF16 of x is the top 16 bits of float32 x; widening back must reproduce exactly those floats.
            var bits = new ushort[n];
            for (int i = 0; i < n; i++) bits[i] = (ushort)(BitConverter.SingleToInt32Bits((float)(rng.NextDouble() * 1e4 - 5e3)) >> 16);
            if (n > 0) bits[0] = 0xFF80;   // -inf
            var buffer = new byte[2 * n];
            for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(2 * i), bits[i]);
            string path = dir.File($"b{n}.safetensors");
            File.WriteAllBytes(path, TestFiles.SafeTensors($$$"""{"__metadata__":{"k":"v"},"b":{"dtype":"BF16","shape":[{{{n}}}],"data_offsets":[0,{{{2 * n}}}]}}""", buffer));
            using var reader = SafeTensorsReader.Open(path);
            var expected = bits.Select(b => BitConverter.Int32BitsToSingle(b << 16)).ToArray();
            CollectionAssert.AreEqual(expected, reader.ReadFloat32("b"), $"n = {n}");
        }
    }

    [TestMethod]
    public void AcceptsTensorsListedOutOfBufferOrder()
    {
        using var dir = new TempDir();
        string path = dir.File("o.safetensors");
        File.WriteAllBytes(path, TestFiles.SafeTensors(
            """{"second":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"first":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""",
            TestFiles.Floats(1f, 2f)));
        using var reader = SafeTensorsReader.Open(path);
        Assert.AreEqual("second", reader.Tensors[0].Name);
        Assert.AreEqual(2f, reader.ReadFloat32("second")[0]);
        Assert.AreEqual(1f, reader.ReadFloat32("first")[0]);
    }

    [TestMethod]
    public void ShapeCheckAndMissingTensorErrorsNameTensorAndFile()
    {
        using var dir = new TempDir();
        string path = dir.File("s.safetensors");
        SafeTensorsWriter.WriteFile(path, [new SafeTensorData("w", [2, 3], new float[6])]);
        using var reader = SafeTensorsReader.Open(path);
        TestFiles.AssertFormatError(() => reader.ReadFloat32("w", 3, 2), "s.safetensors", "tensor 'w': expected shape [3, 2], found [2, 3]");
        TestFiles.AssertFormatError(() => reader.Get("nope"), "s.safetensors", "tensor 'nope' is missing");
        Assert.IsFalse(reader.TryGet("nope", out _));
        var e = Assert.ThrowsExactly<ArgumentException>(() => reader.ReadFloat32("w", new float[5]));
        StringAssert.Contains(e.Message, "'w'");
    }

    [TestMethod]
    public void WriterRejectsBadTensorsBeforeWritingAnything()
    {
        using var ms = new MemoryStream();
        var e = Assert.ThrowsExactly<ArgumentException>(() => SafeTensorsWriter.Write(ms, [new SafeTensorData("x", [2, 3], new float[5])]));
        StringAssert.Contains(e.Message, "tensor 'x': data has 5 values, but shape [2, 3] needs 6");
        Assert.ThrowsExactly<ArgumentException>(() => SafeTensorsWriter.Write(ms, [new("d", [1], new float[1]), new("d", [1], new float[1])]));
        Assert.ThrowsExactly<ArgumentException>(() => SafeTensorsWriter.Write(ms, [new("__metadata__", [1], new float[1])]));
        Assert.ThrowsExactly<ArgumentException>(() => SafeTensorsWriter.Write(ms, [new("neg", [-1], new float[0])]));
        Assert.AreEqual(0, ms.Length);
    }

    [TestMethod]
    public void ReadAfterDisposeThrows()
    {
        using var dir = new TempDir();
        string path = dir.File("d.safetensors");
        SafeTensorsWriter.WriteFile(path, [new SafeTensorData("w", [1], new float[1])]);
        var reader = SafeTensorsReader.Open(path);
        reader.Dispose();
        reader.Dispose();
        Assert.ThrowsExactly<ObjectDisposedException>(() => reader.ReadFloat32("w"));
    }
}
