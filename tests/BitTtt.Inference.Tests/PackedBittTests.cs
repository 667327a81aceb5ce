using System.Text;
using BitTtt.Formats;
using BitTtt.Inference.Engine;
using BitTtt.Tests.Shared;

namespace BitTtt.Inference.Tests;

/// <summary>
/// The packed .bitt (docs/format.md §7): the reference quantizers' bytes in the engine's layouts, the size formula, the
/// version and fingerprint fields, logits within the documented tolerance of the fp32 file's, memory files that cross
/// between the two, and one clear error for each kind of damage.
/// </summary>
[TestClass]
public sealed class PackedBittTests
{
    public TestContext TestContext { get; set; } = null!;

    /// <summary>docs/format.md §7: the packed file's logits differ from the fp32 file's (same int8 head) only by the int8
    /// embedding's rounding; measured on tiny random models and trained models, at most this fraction of the largest |logit|.</summary>
    internal const float PackedTolerance = 0.02f;

    static string _dir = null!;

    [ClassInitialize]
    public static void MakeDirectory(TestContext _)
    {
        _dir = Path.Combine(Path.GetTempPath(), "bitttt-packed-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [ClassCleanup]
    public static void RemoveDirectory() => Directory.Delete(_dir, recursive: true);

    static BitLlamaConfig Model(TttType type) => type == TttType.Delta
        ? TinyModels.DeltaConfig(vocab: TinyLlama.Tokenizer().VocabSize, dim: 36, heads: 3, headDim: 13, conv: 4)
        : TinyLlama.Config(dim: 32, chunk: 3);

    static string WriteFp32(BitLlamaConfig c, string name, int seed = 2)
    {
        string path = Path.Combine(_dir, name);
        ModelPackage.WriteBitt(path, c, TinyLlama.TokenizerJson, TinyLlama.Tensors(c, seed));
        return path;
    }

    [TestMethod]
    [DataRow(TttType.Reconstruct)]
    [DataRow(TttType.Delta)]
    public void APackedFileLoadsWithTheSameFingerprintAndLogitsWithinTheTolerance(TttType type)
    {
        var c = Model(type);
        string fp32 = WriteFp32(c, $"{type}.bitt"), packed = Path.Combine(_dir, $"{type}-packed.bitt");
        using var a = Llama.LoadAuto(fp32);
        a.SavePacked(packed);
        using var b = Llama.LoadAuto(packed);
        Assert.IsTrue(b.Weights.UsesInt8Embedding);
        Assert.AreEqual(a.Weights.Fingerprint, b.Weights.Fingerprint);
        using var sa = a.CreateSession();
        using var sb = b.CreateSession();
        float worst = 0, scale = 0;
        foreach (int t in TinyModels.RandomTokens(40, c.VocabSize, seed: 9))
        {
            var (la, lb) = (sa.Logits([t]), sb.Logits([t]));
            worst = MathF.Max(worst, EngineTests.MaxAbsDiff(la, lb));
            scale = MathF.Max(scale, la.Max(MathF.Abs));
        }
        TestContext.WriteLine($"{type}: max |packed - fp32| = {worst:E2}, max |logit| {scale:F2} ({worst / scale:P2})");
        Assert.IsGreaterThan(0f, worst, "the packed model is not the int8 embedding it should be");
        Assert.IsLessThan(PackedTolerance * scale, worst);
    }

    [TestMethod]
    [DataRow(TttType.Reconstruct)]
    [DataRow(TttType.Delta)]
    public void ThePackedTensorsAreTheReferenceQuantizersBytesAndTheSizeFormulaHolds(TttType type)
    {
        var c = Model(type);
        var fp32 = TinyLlama.Tensors(c, 4).ToDictionary(t => t.Name, t => t.Data.ToArray());
        string packed = Path.Combine(_dir, $"{type}-ref.bitt");
        using (var llama = Llama.FromWeights(c, TinyLlama.Tokenizer(), TinyLlama.Tensors(c, 4))) llama.SavePacked(packed);
        using var package = ModelPackage.Open(packed);
        Assert.IsTrue(package.IsPacked);
        Assert.AreEqual(PackedWeights.Version, package.Packing);
        var r = package.Weights;
        byte[] Bytes(string name) { var b = new byte[r.Get(name).ByteLength]; r.ReadBytes(name, b); return b; }
        foreach (var (name, shape, ternary) in BitLlamaWeights.Expected(c))
        {
            if (ternary)
            {
                var (codes, s) = TernaryPacking.Quantize(fp32[name], (int)shape[0], (int)shape[1]);
                CollectionAssert.AreEqual(codes, Bytes(name), name);
                Assert.AreEqual(s, r.ReadFloat32(name + PackedWeights.ScaleSuffix)[0], name);
            }
            else if (name == BitLlamaWeights.Embed || name == BitLlamaWeights.LmHead)
            {
                var (q, scales) = Int8Rows.Quantize(fp32[name], (int)shape[0], (int)shape[1]);
                var stored = name == BitLlamaWeights.Embed ? q : Int8Rows.ToRowGroups(q, (int)shape[0], (int)shape[1]);
                CollectionAssert.AreEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(stored.AsSpan()).ToArray(), Bytes(name), name);
                CollectionAssert.AreEqual(scales, r.ReadFloat32(name + PackedWeights.ScaleSuffix)[..(int)shape[0]], name);
            }
            else CollectionAssert.AreEqual(fp32[name], r.ReadFloat32(name), name);
        }
        long data = r.Tensors.Sum(t => t.ByteLength);
        Assert.AreEqual(PackedWeights.DataBytes(c), data);
        // The formula by hand for the reconstruct model (D = 32, d = 8, I = 128, 2 layers): per layer ttt.down (8 rows padded
        // to 32) × 32, ttt.up 32 × (8 columns padded to 16), gate and up 128 × 32, down 32 × 128, 2 bits each, 5 scales;
        // two norms per layer and norm_f in fp32; the embedding's and the head's int8 rows and scales.
        if (type == TttType.Reconstruct)
        {
            long v = c.VocabSize, vp = Int8Rows.PadRows(c.VocabSize);
            long perLayer = 32 * 32 / 4 + 32 * 16 / 4 + 128 * 32 / 4 * 2 + 32 * 128 / 4 + 5 * 4;
            long expected = 2 * perLayer + 4 * (2 * 2 * 32 + 32) + (v * 32 + 4 * v) + (vp * 32 + 4 * vp);
            Assert.AreEqual(expected, data);
        }
        // Saving the loaded packed model again writes the same bytes.
        string again = Path.Combine(_dir, $"{type}-again.bitt");
        using (var loaded = Llama.LoadAuto(packed)) loaded.SavePacked(again);
        CollectionAssert.AreEqual(File.ReadAllBytes(packed), File.ReadAllBytes(again));
    }

    [TestMethod]
    public void MemoryFilesCrossBetweenTheFp32AndThePackedFile()
    {
        var c = Model(TttType.Delta);
        string fp32 = WriteFp32(c, "memory.bitt"), packed = Path.Combine(_dir, "memory-packed.bitt"), memory = Path.Combine(_dir, "m.bttm");
        using var a = Llama.LoadAuto(fp32);
        a.SavePacked(packed);
        using var b = Llama.LoadAuto(packed);
        using (var s = a.CreateSession()) { s.Learn("the whale swam"); s.SaveMemory(memory); }
        using (var s = b.CreateSession()) { s.LoadMemory(memory); Assert.IsGreaterThan(0L, s.Position); s.Learn("in the sea"); s.SaveMemory(memory); }
        using (var s = a.CreateSession()) s.LoadMemory(memory);
    }

    [TestMethod]
    public void TheFp32HeadOptionDequantizesThePackedHead()
    {
        var c = Model(TttType.Reconstruct);
        string packed = Path.Combine(_dir, "head.bitt");
        using (var llama = Llama.LoadAuto(WriteFp32(c, "head-src.bitt"))) llama.SavePacked(packed);
        using var fp32Head = Llama.LoadAuto(packed, new InferenceOptions { Int8LmHead = false });
        Assert.IsFalse(fp32Head.Weights.UsesInt8LmHead);
        Assert.IsNotNull(fp32Head.Complete("the whale", SamplingOptions.Greedy(4)));
    }

    /// <summary>Each kind of damage to a packed file is one BitLlamaFormatException naming the file and what is wrong.</summary>
    [TestMethod]
    [DataRow("\"packing\":1", "\"packing\":2", "header 'packing' is 2; this reader knows packing 1")]
    [DataRow("\"packing\":1", "\"packing\":\"1\"", "header 'packing' must be an integer")]
    [DataRow("\"fingerprint\":\"", "\"fingerprint\":\"X", "header 'fingerprint' of a packed file must be 64 lowercase hex digits")]
    [DataRow("\"dtype\":\"U8\"", "\"dtype\":\"I8\"", "expected U8")]
    public void ADamagedHeaderIsOneClearError(string find, string replace, string expected)
    {
        string packed = Path.Combine(_dir, "damaged.bitt");
        using (var llama = Llama.LoadAuto(WriteFp32(Model(TttType.Reconstruct), "damaged-src.bitt"))) llama.SavePacked(packed);
        var bytes = File.ReadAllBytes(packed);
        string text = Encoding.Latin1.GetString(bytes);
        int at = text.IndexOf(find, StringComparison.Ordinal);
        Assert.IsGreaterThanOrEqualTo(0, at, find);
        string damaged = Path.Combine(_dir, "damaged-2.bitt");
        // Same length, so offsets stay valid: pad the header with spaces where a replacement is shorter, re-read the JSON.
        var header = text[..at] + replace + text[(at + find.Length)..];
        File.WriteAllBytes(damaged, Encoding.Latin1.GetBytes(Resize(header, text, at, find, replace)));
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => Llama.LoadAuto(damaged));
        StringAssert.Contains(e.Message, "damaged-2.bitt");
        StringAssert.Contains(e.Message, expected);
    }

    /// <summary>Keeps the file's offsets: the .bitt header length field is rewritten for the header's new length.</summary>
    static string Resize(string changed, string original, int at, string find, string replace)
    {
        int delta = replace.Length - find.Length;
        long headerLength = BitConverter.ToInt64(Encoding.Latin1.GetBytes(original.Substring(4, 8)));
        bool inBittHeader = at < 12 + headerLength;
        if (!inBittHeader) return changed;   // inside the safetensors header: its length field is at 12 + header_len
        var bytes = Encoding.Latin1.GetBytes(changed);
        BitConverter.GetBytes(headerLength + delta).CopyTo(bytes, 4);
        return Encoding.Latin1.GetString(bytes);
    }

    [TestMethod]
    public void DamagedPackedDataIsOneClearError()
    {
        var c = Model(TttType.Reconstruct);
        string packed = Path.Combine(_dir, "data.bitt");
        using (var llama = Llama.LoadAuto(WriteFp32(c, "data-src.bitt"))) llama.SavePacked(packed);
        long Offset(string name)
        {
            using var p = ModelPackage.Open(packed);
            return p.Weights.Get(name).Offset;
        }
        void Expect(long offset, byte value, string message)
        {
            var bytes = File.ReadAllBytes(packed);
            bytes[offset] = value;
            string damaged = Path.Combine(_dir, "data-damaged.bitt");
            File.WriteAllBytes(damaged, bytes);
            var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => Llama.LoadAuto(damaged));
            StringAssert.Contains(e.Message, "data-damaged.bitt");
            StringAssert.Contains(e.Message, message);
        }
        Expect(Offset("layers.1.mlp.up_proj.weight") + 5, 0xFF, "tensor 'layers.1.mlp.up_proj.weight': byte 5 holds the code 3");
        Expect(Offset(BitLlamaWeights.LmHead) + 3, 0x80, "tensor 'lm_head.weight': value 3 is -128");
        Expect(Offset(BitLlamaWeights.Embed + PackedWeights.ScaleSuffix) + 3, 0xFF, "row scale 0 is NaN");
    }
}
