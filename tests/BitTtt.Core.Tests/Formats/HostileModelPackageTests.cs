using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using BitTtt.Formats;

namespace BitTtt.Core.Tests.Formats;

/// <summary>Hand-made .bitt files and model directories, one per rejection rule of docs/model.md §4.2-4.3.</summary>
[TestClass]
public sealed class HostileModelPackageTests
{
    static readonly BitLlamaConfig Config = TinyModels.Config(vocab: 8, dim: 8, layers: 1);

    static string Header(string config = "") =>
        $$"""{"config":{{(config.Length > 0 ? config : Config.ToJson())}},"tokenizer":{{TestFiles.TokenizerJson}}}""";

    static byte[] Body(List<SafeTensorData>? tensors = null)
    {
        using var ms = new MemoryStream();
        SafeTensorsWriter.Write(ms, tensors ?? RandomModel.Weights(Config));
        return ms.ToArray();
    }

    static BitLlamaFormatException Rejects(byte[] file, params string[] fragments)
    {
        using var dir = new TempDir();
        string path = dir.File("evil.bitt");
        File.WriteAllBytes(path, file);
        var e = TestFiles.AssertFormatError(() => ModelPackage.Open(path).Dispose(), ["evil.bitt: ", .. fragments]);
        Assert.AreEqual(path, e.FilePath);
        return e;
    }

    [TestMethod]
    public void HandMadeBittOpens()
    {
        using var dir = new TempDir();
        string path = dir.File("ok.bitt");
        File.WriteAllBytes(path, TestFiles.Bitt(Header(), Body()));
        using var p = ModelPackage.Open(path);
        Assert.AreEqual(Config.ToJson(), p.Config.ToJson());
    }

    [TestMethod]
    public void WrongMagic()
    {
        var bytes = TestFiles.Bitt(Header(), Body());
        "GGUF"u8.CopyTo(bytes);
        Rejects(bytes, "not a .bitt file: expected magic 'BITT', found 'GGUF' (0x47475546)");
    }

    [TestMethod]
    public void BareSafetensorsIsNotABitt() => Rejects(Body(), "not a .bitt file: expected magic 'BITT', found 0x");

    [TestMethod]
    public void EmptyFile() => Rejects([], "expected magic 'BITT', found an empty file");

    [TestMethod]
    public void TruncatedPreamble() => Rejects("BITT\x05\0"u8.ToArray(), "file is 6 bytes, too short for the 12-byte .bitt preamble");

    [TestMethod]
    public void HeaderLengthPastTheEnd()
    {
        var bytes = TestFiles.Bitt(Header(), Body());
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(4), (ulong)bytes.Length);
        Rejects(bytes, $"header length {bytes.Length} exceeds the {bytes.Length - 12} bytes left in the file");
    }

    [TestMethod]
    public void HeaderLongerThan100Megabytes()
    {
        using var dir = new TempDir();
        string path = dir.File("huge.bitt");
        using (var fs = new FileStream(path, FileMode.CreateNew))
        {
            fs.Write("BITT"u8);
            Span<byte> n = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(n, 100_000_001);
            fs.Write(n);
            fs.SetLength(110_000_000);
        }
        TestFiles.AssertFormatError(() => ModelPackage.Open(path).Dispose(), "huge.bitt: ", "header length 100000001 exceeds the 67108864-byte limit (BitLlamaLoadLimits.MaxBittHeaderBytes)");
    }

    [TestMethod]
    public void InvalidJsonHeader() => Rejects(TestFiles.Bitt("""{"config":{"vocab_size":""", Body()), "invalid JSON header");

    [TestMethod]
    public void HeaderWithoutConfig() => Rejects(TestFiles.Bitt($$"""{"tokenizer":{{TestFiles.TokenizerJson}}}""", Body()), "header has no 'config'");

    [TestMethod]
    public void ConfigNotAnObject() => Rejects(TestFiles.Bitt("""{"config":"config.json"}""", Body()), "header 'config' must be an object, found String");

    [TestMethod]
    public void TokenizerNotAnObject() =>
        Rejects(TestFiles.Bitt($$"""{"config":{{Config.ToJson()}},"tokenizer":"gpt2"}""", Body()), "header 'tokenizer' must be a tokenizer.json object, found String");

    [TestMethod]
    public void BadConfigField() =>
        Rejects(TestFiles.Bitt(Header("""{"vocab_size":8,"hidden_dim":30,"num_layers":1,"inner_lr":0.1}"""), Body()), "hidden_dim must be a positive multiple of 4, got 30");

    [TestMethod]
    public void TruncatedBody()
    {
        var bytes = TestFiles.Bitt(Header(), Body());
        Rejects(bytes[..^10], "safetensors body at byte ", "tensor 'lm_head.weight'", "truncated");
    }

    [TestMethod]
    public void BodyMissingEntirely()
    {
        var e = Rejects(TestFiles.Bitt(Header(), []), "safetensors body at byte ", "too short for the 8-byte header length");
        StringAssert.Contains(e.Message, $"at byte {12 + Encoding.UTF8.GetByteCount(Header())}");
    }

    [TestMethod]
    public void BodyWithInvalidJson() =>
        Rejects(TestFiles.Bitt(Header(), TestFiles.SafeTensors("{nope", [])), "safetensors body at byte ", "invalid JSON header");

    [TestMethod]
    public void BodyWithWrongDtype() =>
        Rejects(TestFiles.Bitt(Header(), TestFiles.SafeTensors("""{"embed.weight":{"dtype":"Q4_0","shape":[1],"data_offsets":[0,4]}}""", new byte[4])),
            "safetensors body", "tensor 'embed.weight': unknown dtype 'Q4_0' (accepted: F32, F16, BF16, U8, I8)");

    [TestMethod]
    public void BodyWithOverlappingOffsets() =>
        Rejects(TestFiles.Bitt(Header(), TestFiles.SafeTensors(
                """{"embed.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"norm_f.weight":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""",
                new byte[12])),
            "safetensors body", "tensors 'embed.weight' [0, 8] and 'norm_f.weight' [4, 12] overlap");

    [TestMethod]
    public void BodyWithOutOfRangeOffsets() =>
        Rejects(TestFiles.Bitt(Header(), TestFiles.SafeTensors("""{"embed.weight":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""", new byte[8])),
            "safetensors body", "tensor 'embed.weight': data_offsets [8, 16] reach past the end of the data buffer");

    [TestMethod]
    public void BodyWithGap() =>
        Rejects(TestFiles.Bitt(Header(), TestFiles.SafeTensors(
                """{"embed.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"norm_f.weight":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""",
                new byte[12])),
            "safetensors body", "gap of 4 bytes between tensor 'embed.weight' (ends at 4) and tensor 'norm_f.weight' (begins at 8)");

    [TestMethod]
    public void MissingTensor()
    {
        var weights = RandomModel.Weights(Config).Where(w => w.Name != "layers.0.norm2.weight").ToList();
        Rejects(TestFiles.Bitt(Header(), Body(weights)), "tensor 'layers.0.norm2.weight' is missing (expected shape [8])");
    }

    [TestMethod]
    public void WrongShape()
    {
        var weights = RandomModel.Weights(Config)
            .Select(w => w.Name == "lm_head.weight" ? new SafeTensorData(w.Name, [4, 16], w.Data) : w).ToList();
        Rejects(TestFiles.Bitt(Header(), Body(weights)), "tensor 'lm_head.weight': expected shape [8, 8], found [4, 16]");
    }

    [TestMethod]
    public void DirectoryWithoutConfig()
    {
        using var dir = new TempDir();
        string model = dir.File("mymodel");
        ModelPackage.WriteDirectory(model, Config, TestFiles.TokenizerJson, RandomModel.Weights(Config));
        File.Delete(Path.Combine(model, "config.json"));
        TestFiles.AssertFormatError(() => ModelPackage.Open(model).Dispose(), "mymodel: model directory has no config.json");
    }

    [TestMethod]
    public void DirectoryWithoutWeights()
    {
        using var dir = new TempDir();
        string model = dir.File("mymodel");
        ModelPackage.WriteDirectory(model, Config, TestFiles.TokenizerJson, RandomModel.Weights(Config));
        File.Delete(Path.Combine(model, "model.safetensors"));
        TestFiles.AssertFormatError(() => ModelPackage.Open(model + "/").Dispose(), "mymodel: model directory has neither model.safetensors nor weight.safetensors");
    }

    [TestMethod]
    public void DirectoryWithBadConfigOrWeights()
    {
        using var dir = new TempDir();
        string model = dir.File("mymodel");
        ModelPackage.WriteDirectory(model, Config, TestFiles.TokenizerJson, RandomModel.Weights(Config));
        File.WriteAllText(Path.Combine(model, "config.json"), """{"vocab_size":8,"hidden_dim":8,"num_layers":2,"inner_lr":0.1}""");
        TestFiles.AssertFormatError(() => ModelPackage.Open(model).Dispose(), "model.safetensors: ", "tensor 'layers.1.norm1.weight' is missing (expected shape [8])");
        File.WriteAllText(Path.Combine(model, "config.json"), """{"vocab_size":8,"hidden_dim":"8","num_layers":1,"inner_lr":0.1}""");
        TestFiles.AssertFormatError(() => ModelPackage.Open(model).Dispose(), "config.json: ", "field 'hidden_dim' must be an integer");
        var truncated = File.ReadAllBytes(Path.Combine(model, "model.safetensors"))[..^1];
        Config.Save(Path.Combine(model, "config.json"));
        File.WriteAllBytes(Path.Combine(model, "model.safetensors"), truncated);
        TestFiles.AssertFormatError(() => ModelPackage.Open(model).Dispose(), "model.safetensors: ", "truncated");
    }

    [TestMethod]
    public void DirectoryWithBrokenTokenizerJson()
    {
        using var dir = new TempDir();
        string model = dir.File("mymodel");
        ModelPackage.WriteDirectory(model, Config, TestFiles.TokenizerJson, RandomModel.Weights(Config));
        File.WriteAllText(Path.Combine(model, "tokenizer.json"), """{"model":""");
        TestFiles.AssertFormatError(() => ModelPackage.Open(model).Dispose(), "tokenizer.json: invalid JSON");
        File.WriteAllText(Path.Combine(model, "tokenizer.json"), "[]");
        TestFiles.AssertFormatError(() => ModelPackage.Open(model).Dispose(), "tokenizer.json: expected a tokenizer.json object at the top level, found Array");
        File.Delete(Path.Combine(model, "tokenizer.json"));
        using var p = ModelPackage.Open(model);
        Assert.IsNull(p.TokenizerJson);
    }

    /// <summary>Stands in for a data source that fails part-way (a disk error while the weights stream out).</summary>
    sealed class FailingMemory(int length) : MemoryManager<float>
    {
        public ReadOnlyMemory<float> AsMemory() => CreateMemory(length);
        public override Span<float> GetSpan() => throw new IOException("simulated read failure");
        public override MemoryHandle Pin(int elementIndex = 0) => throw new NotSupportedException();
        public override void Unpin() { }
        protected override void Dispose(bool disposing) { }
    }

    [TestMethod]
    public void FailedBittWriteLeavesThePreviousFileAndNoTempFile()
    {
        using var dir = new TempDir();
        string path = dir.File("m.bitt");
        var good = RandomModel.Weights(Config, seed: 1);
        ModelPackage.WriteBitt(path, Config, TestFiles.TokenizerJson, good);
        byte[] before = File.ReadAllBytes(path);

        // Fails after magic, header and the first tensors are already written to the temp file.
        var failing = RandomModel.Weights(Config, seed: 2);
        int last = failing.Count - 1;
        failing[last] = failing[last] with { Data = new FailingMemory(failing[last].Data.Length).AsMemory() };
        Assert.ThrowsExactly<IOException>(() => ModelPackage.WriteBitt(path, Config, TestFiles.TokenizerJson, failing));

        CollectionAssert.AreEqual(before, File.ReadAllBytes(path));
        CollectionAssert.AreEqual(new[] { path }, Directory.GetFiles(dir.Path));
        using var p = ModelPackage.Open(path);
        CollectionAssert.AreEqual(good[0].Data.ToArray(), p.Weights.ReadFloat32(good[0].Name));
    }

    [TestMethod]
    public void FailedSafetensorsWriteLeavesThePreviousFileAndNoTempFile()
    {
        using var dir = new TempDir();
        string path = dir.File("w.safetensors");
        SafeTensorsWriter.WriteFile(path, [new SafeTensorData("w", [2], new float[] { 1, 2 })]);
        byte[] before = File.ReadAllBytes(path);
        Assert.ThrowsExactly<ArgumentException>(() => SafeTensorsWriter.WriteFile(path, [new SafeTensorData("w", [3], new float[] { 1, 2 })]));
        Assert.ThrowsExactly<IOException>(() => SafeTensorsWriter.WriteFile(path,
            [new SafeTensorData("a", [2], new float[] { 5, 6 }), new SafeTensorData("b", [4], new FailingMemory(4).AsMemory())]));
        CollectionAssert.AreEqual(before, File.ReadAllBytes(path));
        CollectionAssert.AreEqual(new[] { path }, Directory.GetFiles(dir.Path));
    }

    [TestMethod]
    public void FailedDirectoryWriteLeavesThePreviousModelOpenable()
    {
        using var dir = new TempDir();
        string model = dir.File("model");
        var good = RandomModel.Weights(Config, seed: 1);
        ModelPackage.WriteDirectory(model, Config, TestFiles.TokenizerJson, good);
        var failing = RandomModel.Weights(Config, seed: 2);
        failing[3] = failing[3] with { Data = new FailingMemory(failing[3].Data.Length).AsMemory() };
        Assert.ThrowsExactly<IOException>(() => ModelPackage.WriteDirectory(model, Config, TestFiles.TokenizerJson, failing));
        Assert.AreEqual(3, Directory.GetFiles(model).Length);
        using var p = ModelPackage.Open(model);
        CollectionAssert.AreEqual(good[3].Data.ToArray(), p.Weights.ReadFloat32(good[3].Name));
    }
}
