using System.Buffers.Binary;
using BitTtt.Formats;

namespace BitTtt.Core.Tests.Formats;

/// <summary>One hand-made file per docs/model.md §4.1 rejection rule; each error must name the file and the culprit.</summary>
[TestClass]
public sealed class HostileSafeTensorsTests
{
    static void Rejects(byte[] file, params string[] fragments)
    {
        using var dir = new TempDir();
        string path = dir.File("evil.safetensors");
        File.WriteAllBytes(path, file);
        var e = TestFiles.AssertFormatError(() => SafeTensorsReader.Open(path).Dispose(), ["evil.safetensors: ", .. fragments]);
        Assert.AreEqual(path, e.FilePath);
    }

    static void Rejects(string header, byte[] buffer, params string[] fragments) => Rejects(TestFiles.SafeTensors(header, buffer), fragments);

    static byte[] Valid()
    {
        using var ms = new MemoryStream();
        SafeTensorsWriter.Write(ms, [new("a", [4], new float[] { 1, 2, 3, 4 }), new("b", [2, 2], new float[4])]);
        return ms.ToArray();
    }

    [TestMethod]
    public void TooManyTensorsAreRejectedBeforeTheHeaderIsParsed()
    {
        // 100 times MaxTensors zero-sized tensors: the count is checked by scanning the header from the file in
        // pieces, so the reader allocates about one 1 MB piece, neither the header nor a parsed document of it.
        var limits = BitLlamaLoadLimits.Default with { MaxTensors = 1000 };
        var header = new System.Text.StringBuilder("{");
        for (int i = 0; i < 100 * limits.MaxTensors; i++) header.Append(i == 0 ? "" : ",").Append("\"t").Append(i).Append("\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}");
        byte[] file = TestFiles.SafeTensors(header.Append('}').ToString(), []);
        using var dir = new TempDir();
        string path = dir.File("many.safetensors");
        File.WriteAllBytes(path, file);
        SafeTensorsReader.Open(path, BitLlamaLoadLimits.Default with { MaxTensors = 200 * limits.MaxTensors }).Dispose();   // well-formed

        long before = GC.GetAllocatedBytesForCurrentThread();
        TestFiles.AssertFormatError(() => SafeTensorsReader.Open(path, limits).Dispose(), "many.safetensors: ", "more than 1000 tensors (BitLlamaLoadLimits.MaxTensors)");
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.IsTrue(allocated < (3 << 20) && allocated < file.Length / 2, $"{allocated:N0} bytes allocated to reject a {file.Length:N0}-byte file");
    }

    [TestMethod]
    public void TruncatedInsideTheData() => Rejects(Valid()[..^6], "tensor 'b'", "reach past the end of the data buffer", "truncated");

    [TestMethod]
    public void TruncatedInsideTheHeaderLength() => Rejects(new byte[] { 8, 0, 0 }, "3 bytes, too short for the 8-byte header length");

    [TestMethod]
    public void EmptyFile() => Rejects([], "0 bytes, too short");

    [TestMethod]
    public void HeaderLengthPastTheEndOfTheFile()
    {
        var bytes = Valid();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 9_000_000_000_000_000_000UL);
        Rejects(bytes, "header length 9000000000000000000 exceeds the", "bytes left in the file");
    }

    [TestMethod]
    public void HeaderLongerThan100MegabytesIsRefusedBeforeItIsRead()
    {
        // A sparse 120 MB file whose header length claims 110 MB: inside the file, over the limit.
        using var dir = new TempDir();
        string path = dir.File("huge.safetensors");
        using (var fs = new FileStream(path, FileMode.CreateNew))
        {
            Span<byte> n = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(n, 110_000_000);
            fs.Write(n);
            fs.SetLength(120_000_000);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        TestFiles.AssertFormatError(() => SafeTensorsReader.Open(path).Dispose(), "huge.safetensors: ", "header length 110000000 exceeds the 100000000-byte limit");
        Assert.IsTrue(GC.GetAllocatedBytesForCurrentThread() - before < 1_000_000, "the header must not be allocated");
    }

    [TestMethod]
    public void InvalidJson() => Rejects("""{"a":{"dtype":"F32",""", [], "invalid JSON header");

    [TestMethod]
    public void InvalidUtf8() => Rejects(TestFiles.SafeTensors(new byte[] { (byte)'{', (byte)'"', 0xff, 0xfe, (byte)'"', (byte)':', (byte)'1', (byte)'}' }, []), "invalid JSON header: it is not valid UTF-8");

    [TestMethod]
    public void HeaderNotAnObject() => Rejects("[1,2]", [], "header must be a JSON object, found Array");

    [TestMethod]
    public void OffsetsOutsideTheBuffer() =>
        Rejects("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[100,108]}}""", TestFiles.Floats(1, 2),
            "tensor 'a'", "data_offsets [100, 108] reach past the end of the data buffer, which holds 8 bytes");

    [TestMethod]
    public void OffsetsBackwards() =>
        Rejects("""{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}""", TestFiles.Floats(1, 2), "tensor 'a'", "end before they begin");

    [TestMethod]
    public void OverlappingTensors() =>
        Rejects("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""",
            TestFiles.Floats(1, 2, 3), "tensors 'a' [0, 8] and 'b' [4, 12] overlap");

    [TestMethod]
    public void TwoTensorsSharingBytes() =>
        Rejects("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""",
            TestFiles.Floats(1, 2), "overlap", "'a'", "'b'");

    [TestMethod]
    public void GapBetweenTensors() =>
        Rejects("""{"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""",
            TestFiles.Floats(1, 2, 3), "gap of 4 bytes between tensor 'a' (ends at 4) and tensor 'b' (begins at 8)");

    [TestMethod]
    public void GapAtTheStart() =>
        Rejects("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", TestFiles.Floats(1, 2), "gap of 4 bytes at the start", "tensor 'a'");

    [TestMethod]
    public void BytesAfterTheLastTensor() =>
        Rejects("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", TestFiles.Floats(1, 2), "4 bytes after the last tensor 'a'");

    [TestMethod]
    public void ByteLengthDoesNotMatchDtypeTimesShape() =>
        Rejects("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", TestFiles.Floats(1, 2),
            "tensor 'a': data_offsets [0, 8] hold 8 bytes, but F32 × shape [3] needs 12 bytes");

    [TestMethod]
    public void F16LengthIsCheckedWithTwoBytesPerElement() =>
        Rejects("""{"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,16]}}""", new byte[16], "tensor 'h'", "F16 × shape [2, 2] needs 8 bytes");

    [TestMethod]
    public void UnknownDtype() =>
        Rejects("""{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}""", new byte[8], "tensor 'ids': unknown dtype 'I64' (accepted: F32, F16, BF16, U8, I8)");

    [TestMethod]
    public void MissingDtype() =>
        Rejects("""{"a":{"shape":[1],"data_offsets":[0,4]}}""", new byte[4], "tensor 'a': 'dtype' is missing");

    [TestMethod]
    public void NegativeDimension() =>
        Rejects("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", new byte[4], "tensor 'a': 'shape' must be an array of non-negative integers, found -1");

    [TestMethod]
    public void FractionalDimension() =>
        Rejects("""{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", new byte[4], "tensor 'a': 'shape'", "found 1.5");

    [TestMethod]
    public void ShapeWhoseProductOverflows() =>
        Rejects("""{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}""", new byte[4], "tensor 'a': shape [4294967296, 4294967296] is too large");

    [TestMethod]
    public void MissingDataOffsets() =>
        Rejects("""{"a":{"dtype":"F32","shape":[1]}}""", new byte[4], "tensor 'a': 'data_offsets' is missing");

    [TestMethod]
    public void ThreeDataOffsets() =>
        Rejects("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}""", new byte[4], "tensor 'a': 'data_offsets' has 3 entries, expected 2");

    [TestMethod]
    public void TensorEntryNotAnObject() => Rejects("""{"a":[1,2]}""", [], "tensor 'a': expected an object");

    [TestMethod]
    public void DuplicateTensorName() =>
        Rejects("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""",
            TestFiles.Floats(1, 2), "invalid JSON header: Duplicate property 'a'");

    [TestMethod]
    public void NonStringMetadata() =>
        Rejects("""{"__metadata__":{"step":5},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[4], "'__metadata__' value 'step' must be a string");
}
