using System.Buffers.Binary;
using System.Text;
using BitTtt.Inference.Engine;

namespace BitTtt.Inference.Tests;

[TestClass]
public sealed class MemoryFileTests
{
    string _dir = null!;

    [TestInitialize]
    public void Init() => _dir = TempFiles.NewDirectory();

    /// <summary>
    /// docs/format.md §6: a delta memory file stores each head's S by rows, whatever layout the engine computes in (it
    /// holds S by columns), so files written by earlier versions load and files written now load in them.
    /// </summary>
    [TestMethod]
    public void ADeltaMemoryFileStoresEachHeadsStateByRows()
    {
        var c = TinyModels.DeltaConfig(heads: 3, headDim: 5, conv: 2);
        var state = new SequenceState(TinyModels.Load(c, TinyModels.RandomWeights(c, 4)));
        Forward.Run(state, [1, 2, 3, 4, 5], []);
        string path = Path.Combine(_dir, "rows.bttm");
        state.SaveMemory(path);
        var owner = new Formats.MemoryOwner(c, state.Weights.Describe(), state.Weights.Fingerprint);
        var file = Formats.MemoryFile.Layout(c).Select(a => new float[a.Length]).ToArray();
        Assert.AreEqual(5, Formats.MemoryFile.Load(path, owner, file));
        for (int l = 0; l < c.NumLayers; l++)
        {
            var columns = state.StateS(l).ToArray();
            Assert.IsTrue(columns.Any(x => x != 0));
            for (int h = 0; h < 3; h++)
                for (int r = 0; r < 5; r++)
                    for (int j = 0; j < 5; j++)
                        Assert.AreEqual(columns[h * 25 + j * 5 + r], file[2 * l][h * 25 + r * 5 + j], $"layer {l}, head {h}, S[{r}, {j}]");
        }
    }

    [TestMethod]
    public void SavedMemoryContinuesExactlyWhereItStopped()
    {
        var c = TinyModels.Config(chunk: 4);
        var weights = TinyModels.Load(c, TinyModels.RandomWeights(c, 9));
        var a = new SequenceState(weights);
        Forward.Run(a, [1, 2, 3, 4, 5, 6], []);            // mid-chunk: G is non-zero
        string path = Path.Combine(_dir, "m.bttm");
        a.SaveMemory(path);
        var b = new SequenceState(weights);
        b.LoadMemory(path);
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
        a.SaveMemory(path);
        var sameShape = new SequenceState(TinyModels.Load(c, TinyModels.RandomWeights(c, 2)));
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => sameShape.LoadMemory(path));
        StringAssert.Contains(e.Message, "another model");
        StringAssert.Contains(e.Message, a.Weights.Fingerprint[..16]);
        StringAssert.Contains(e.Message, sameShape.Weights.Fingerprint[..16]);
        var c2 = TinyModels.Config(dim: 16);
        var other = new SequenceState(TinyModels.Load(c2, TinyModels.RandomWeights(c2, 1)));
        var e2 = Assert.ThrowsExactly<BitLlamaFormatException>(() => other.LoadMemory(path));
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
        s.SaveMemory(path);
        var bytes = File.ReadAllBytes(path);
        string bad = Path.Combine(_dir, "bad.bttm");
        File.WriteAllBytes(bad, bytes[..^4]);
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => s.LoadMemory(bad)).Message, "bytes of TTT state");
        File.WriteAllBytes(bad, "XXXX"u8.ToArray().Concat(bytes[4..]).ToArray());
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => s.LoadMemory(bad)).Message, "magic");
        File.WriteAllBytes(bad, bytes[..20]);
        StringAssert.Contains(Assert.ThrowsExactly<BitLlamaFormatException>(() => s.LoadMemory(bad)).Message, "header length");
        File.WriteAllBytes(bad, []);
        Assert.ThrowsExactly<BitLlamaFormatException>(() => s.LoadMemory(bad));
        Assert.ThrowsExactly<FileNotFoundException>(() => s.LoadMemory(Path.Combine(_dir, "none")));
        Assert.AreEqual(3, s.Position);
    }

    [TestMethod]
    [DataRow(4)]
    [DataRow(1)]
    [DataRow(0)]
    public void DeltaMemoryContinuesExactlyIncludingTheConvTails(int conv)
    {
        var c = TinyModels.DeltaConfig(heads: 3, headDim: 5, conv: conv);
        var weights = TinyModels.Load(c, TinyModels.RandomWeights(c, 9));
        var a = new SequenceState(weights);
        Forward.Run(a, [1, 2, 3, 4, 5, 6], []);
        if (conv == 4) Assert.IsTrue(a.StateConvTail(0).ToArray().Any(x => x != 0), "the tail to save is zero");
        string path = Path.Combine(_dir, "d.bttm");
        a.SaveMemory(path);
        var b = new SequenceState(weights);
        Forward.Run(b, [9, 9], []);                         // something to overwrite
        b.LoadMemory(path);
        Assert.AreEqual(6, b.Position);
        for (int l = 0; l < c.NumLayers; l++)
        {
            CollectionAssert.AreEqual(a.StateS(l).ToArray(), b.StateS(l).ToArray());
            CollectionAssert.AreEqual(a.StateConvTail(l).ToArray(), b.StateConvTail(l).ToArray());
        }
        var la = new float[c.VocabSize];
        var lb = new float[c.VocabSize];
        Forward.Run(a, [7, 8, 9], la);
        Forward.Run(b, [7, 8, 9], lb);
        CollectionAssert.AreEqual(la, lb);
        long expectedBody = c.NumLayers * 4L * (3 * 5 * 5 + 3 * Math.Max(conv - 1, 0) * 15);
        Assert.AreEqual(expectedBody, new FileInfo(path).Length - 12 - BinaryPrimitives.ReadUInt32LittleEndian(File.ReadAllBytes(path).AsSpan(8)));
    }

    [TestMethod]
    public void MemoryOfTheOtherTttTypeOrShapeIsOneClearError()
    {
        var rc = TinyModels.Config();
        var reconstruct = new SequenceState(TinyModels.Load(rc, TinyModels.RandomWeights(rc, 1)));
        var dc = TinyModels.DeltaConfig(heads: 2, conv: 4);
        var delta = new SequenceState(TinyModels.Load(dc, TinyModels.RandomWeights(dc, 1)));
        Forward.Run(delta, [1, 2], []);
        string rPath = Path.Combine(_dir, "r.bttm"), dPath = Path.Combine(_dir, "d.bttm");
        reconstruct.SaveMemory(rPath);
        delta.SaveMemory(dPath);

        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => delta.LoadMemory(rPath));
        StringAssert.Contains(e.Message, "r.bttm: memory file holds the state of a ttt_type \"reconstruct\" model");
        StringAssert.Contains(e.Message, "this model is ttt_type \"delta\"");
        StringAssert.Contains(e.Message, "S 2x16x16");
        e = Assert.ThrowsExactly<BitLlamaFormatException>(() => reconstruct.LoadMemory(dPath));
        StringAssert.Contains(e.Message, "d.bttm: memory file holds the state of a ttt_type \"delta\" model");
        StringAssert.Contains(e.Message, "2 x 8x8 f32");

        var otherShape = TinyModels.DeltaConfig(heads: 4, conv: 4);
        var four = new SequenceState(TinyModels.Load(otherShape, TinyModels.RandomWeights(otherShape, 1)));
        e = Assert.ThrowsExactly<BitLlamaFormatException>(() => four.LoadMemory(dPath));
        StringAssert.Contains(e.Message, "memory file state has ttt_heads 2");
        StringAssert.Contains(e.Message, "this model expects ttt_heads 4");
        var otherConv = TinyModels.DeltaConfig(heads: 2, conv: 2);
        e = Assert.ThrowsExactly<BitLlamaFormatException>(() => new SequenceState(TinyModels.Load(otherConv, TinyModels.RandomWeights(otherConv, 1))).LoadMemory(dPath));
        StringAssert.Contains(e.Message, "ttt_conv 2");
        Assert.AreEqual(2, delta.Position);
    }

    [TestMethod]
    public void VersionOneFilesStillLoadForReconstructModels()
    {
        // Written here from the version 1 layout (docs/format.md §6), not with MemoryFile.Save.
        var c = TinyModels.Config(chunk: 4);
        var weights = TinyModels.Load(c, TinyModels.RandomWeights(c, 3));
        var a = new SequenceState(weights);
        Forward.Run(a, [5, 6, 7, 8, 9, 10], []);
        string header = $$"""{"model":"{{weights.Describe()}}","fingerprint":"{{weights.Fingerprint}}","num_layers":{{c.NumLayers}},"ttt_dim":{{c.TttDim}},"ttt_chunk":4,"position":6}""";
        var bytes = new List<byte>("BTTM"u8.ToArray());
        var u32 = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(u32, 1); bytes.AddRange(u32);
        BinaryPrimitives.WriteUInt32LittleEndian(u32, (uint)Encoding.UTF8.GetByteCount(header)); bytes.AddRange(u32);
        bytes.AddRange(Encoding.UTF8.GetBytes(header));
        for (int l = 0; l < c.NumLayers; l++)
            foreach (var m in new[] { a.StateW(l).ToArray(), a.StateG(l).ToArray() })
                foreach (var x in m) { BinaryPrimitives.WriteSingleLittleEndian(u32, x); bytes.AddRange(u32); }
        string path = Path.Combine(_dir, "v1.bttm");
        File.WriteAllBytes(path, bytes.ToArray());
        var b = new SequenceState(weights);
        b.LoadMemory(path);
        var la = new float[c.VocabSize];
        var lb = new float[c.VocabSize];
        Forward.Run(a, [11, 12], la);
        Forward.Run(b, [11, 12], lb);
        CollectionAssert.AreEqual(la, lb);
        var dc = TinyModels.DeltaConfig();
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => new SequenceState(TinyModels.Load(dc, TinyModels.RandomWeights(dc, 1))).LoadMemory(path));
        StringAssert.Contains(e.Message, "ttt_type \"reconstruct\"");
    }

    /// <summary>A saved memory rebuilt with one edit: header text through <paramref name="editHeader"/>, body through <paramref name="editBody"/>.</summary>
    static byte[] Rebuild(byte[] saved, Func<string, string>? editHeader = null, Func<byte[], byte[]>? editBody = null, uint version = 2, uint? headerLen = null)
    {
        int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(saved.AsSpan(8));
        byte[] json = Encoding.UTF8.GetBytes((editHeader ?? (h => h))(Encoding.UTF8.GetString(saved, 12, len)));
        byte[] body = (editBody ?? (b => b))(saved[(12 + len)..]);
        var bytes = new byte[12 + json.Length + body.Length];
        "BTTM"u8.CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), version);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), headerLen ?? (uint)json.Length);
        json.CopyTo(bytes, 12);
        body.CopyTo(bytes, 12 + json.Length);
        return bytes;
    }

    static byte[] WithFloat(byte[] body, int index, float value)
    {
        var copy = (byte[])body.Clone();
        BinaryPrimitives.WriteSingleLittleEndian(copy.AsSpan(index * 4), value);
        return copy;
    }

    [TestMethod]
    public void EveryMalformedFieldIsOneFormatErrorNamingTheFileAndTheField()
    {
        var c = TinyModels.Config();
        var s = new SequenceState(TinyModels.Load(c, TinyModels.RandomWeights(c, 1)));
        Forward.Run(s, [1, 2, 3], []);
        string path = Path.Combine(_dir, "m.bttm");
        s.SaveMemory(path);
        byte[] saved = File.ReadAllBytes(path);
        var before = s.StateW(0).ToArray();
        (string Name, byte[] Bytes, string Expected)[] cases =
        [
            ("magic", [.. "BTTX"u8, .. saved[4..]], "expected magic \"BTTM\", found \"BTTX\""),
            ("short", saved[..3], "expected magic \"BTTM\", found \"BTT\""),
            ("preamble", saved[..10], "truncated: 10 bytes, shorter than the 12-byte start"),
            ("version", Rebuild(saved, version: 3), "memory file version 3 is not supported"),
            ("header_len", Rebuild(saved, headerLen: uint.MaxValue), "header_len 4294967295 is more than the 1048576-byte limit"),
            ("header past end", Rebuild(saved, headerLen: (uint)saved.Length), "exceeds the file size"),
            ("not JSON", Rebuild(saved, h => h[..^1]), "invalid JSON memory file header"),
            ("array", Rebuild(saved, h => "[" + h + "]"), "expected a JSON object"),
            ("duplicate key", Rebuild(saved, h => h.Replace("{\"model\"", "{\"position\":0,\"model\"", StringComparison.Ordinal)), "position"),
            ("unknown field", Rebuild(saved, h => h.Replace("{\"model\"", "{\"extra\":1,\"model\"", StringComparison.Ordinal)), "unknown header field 'extra'"),
            ("position kind", Rebuild(saved, h => h.Replace("\"position\":3", "\"position\":\"3\"", StringComparison.Ordinal)), "header field 'position': expected a non-negative integer, found \"3\" (String)"),
            ("position sign", Rebuild(saved, h => h.Replace("\"position\":3", "\"position\":-3", StringComparison.Ordinal)), "header field 'position': expected a non-negative integer, found -3"),
            ("position fraction", Rebuild(saved, h => h.Replace("\"position\":3", "\"position\":3.5", StringComparison.Ordinal)), "header field 'position'"),
            ("model kind", Rebuild(saved, h => System.Text.RegularExpressions.Regex.Replace(h, "\"model\":\"[^\"]*\"", "\"model\":7")), "header field 'model': expected a string, found 7 (Number)"),
            ("fingerprint", Rebuild(saved, h => System.Text.RegularExpressions.Regex.Replace(h, "\"fingerprint\":\"[0-9a-f]*\"", "\"fingerprint\":\"\\u001b[2J\"")), "header field 'fingerprint': expected 64 lowercase hex digits (a SHA-256), found \"\\u001b[2J\""),
            ("type", Rebuild(saved, h => h.Replace("\"reconstruct\"", "\"other\"", StringComparison.Ordinal)), "header field 'ttt_type': expected \"reconstruct\" or \"delta\", found \"other\""),
            ("layers", Rebuild(saved, h => h.Replace("\"num_layers\":2", "\"num_layers\":1073741824", StringComparison.Ordinal)), "memory file state has num_layers 1073741824"),
            ("layers kind", Rebuild(saved, h => h.Replace("\"num_layers\":2", "\"num_layers\":\"2\"", StringComparison.Ordinal)), "memory file state has num_layers \"2\""),
            ("chunk kind", Rebuild(saved, h => System.Text.RegularExpressions.Regex.Replace(h, "\"ttt_chunk\":\\d+", "\"ttt_chunk\":null")), "header field 'ttt_chunk': expected a non-negative integer, found null"),
            ("truncated", saved[..^4], "truncated: expected"),
            ("trailing", [.. saved, 1, 2, 3], "3 trailing bytes after the"),
            ("NaN", Rebuild(saved, editBody: b => WithFloat(b, 5, float.NaN)), "TTT state layer 0 W[5] is NaN"),
            ("Inf", Rebuild(saved, editBody: b => WithFloat(b, b.Length / 4 - 1, float.PositiveInfinity)), "TTT state layer 1 G["),
        ];
        foreach (var (name, bytes, expected) in cases)
        {
            string bad = Path.Combine(_dir, "bad.bttm");
            File.WriteAllBytes(bad, bytes);
            var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => s.LoadMemory(bad), name);
            Assert.IsTrue(e.Message.StartsWith("bad.bttm: ", StringComparison.Ordinal), $"{name}: {e.Message}");
            StringAssert.Contains(e.Message, expected, $"{name}: {e.Message}");
            Assert.AreEqual(bad, e.FilePath);
        }
        CollectionAssert.AreEqual(before, s.StateW(0).ToArray(), "a rejected file changed the state");
        Assert.AreEqual(3, s.Position);
        // The unedited rebuild is accepted: the cases above differ from a good file by their one edit.
        File.WriteAllBytes(path, Rebuild(saved));
        s.LoadMemory(path);
    }

    [TestMethod]
    public void TheFileSizeLimitIsCheckedBeforeReading()
    {
        var c = TinyModels.Config();
        var s = new SequenceState(TinyModels.Load(c, TinyModels.RandomWeights(c, 1)));
        string path = Path.Combine(_dir, "m.bttm");
        s.SaveMemory(path);
        long size = new FileInfo(path).Length;
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => s.LoadMemory(path, new BitLlamaLoadLimits { MaxMemoryFileBytes = size - 1 }));
        StringAssert.Contains(e.Message, $"memory file is {size} bytes, more than the {size - 1}-byte limit");
        s.LoadMemory(path, new BitLlamaLoadLimits { MaxMemoryFileBytes = size });
    }
}
