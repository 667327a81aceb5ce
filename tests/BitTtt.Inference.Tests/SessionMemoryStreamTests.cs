namespace BitTtt.Inference.Tests;

/// <summary>
/// A session's memory as bytes (for a store that is not a file: a database value, a grain's state) and the recent
/// tokens the repetition penalty looks at: together they let another session continue exactly where one stopped.
/// </summary>
[TestClass]
public sealed class SessionMemoryStreamTests
{
    static readonly SamplingOptions Penalized = SamplingOptions.Greedy(16) with { RepetitionPenalty = 1.5f };

    static IEnumerable<object[]> Models => [["reconstruct"], ["delta"]];

    static Llama Create(string ttt) => ttt == "delta" ? TinyLlama.CreateDelta(seed: 3) : TinyLlama.Create(seed: 3);

    [TestMethod]
    [DynamicData(nameof(Models))]
    public void StreamBytesAreTheFileBytes(string ttt)
    {
        using var llama = Create(ttt);
        using var s = llama.CreateSession();
        s.Learn("the whale swam in the sea.");
        string file = Path.Combine(Path.GetTempPath(), $"bitttt-{Guid.NewGuid():N}.bttm");
        try
        {
            s.SaveMemory(file);
            var stream = new MemoryStream();
            stream.Write([1, 2, 3]);   // written at the stream's position, after what is there
            s.SaveMemory(stream);
            CollectionAssert.AreEqual(File.ReadAllBytes(file), stream.ToArray()[3..]);
            using var restored = llama.CreateSession();
            restored.LoadMemory(new ForwardOnly(File.ReadAllBytes(file)), "a network stream");   // read whole, then checked
            Assert.AreEqual(s.Position, restored.Position);
            Assert.AreEqual(s.Complete("the", SamplingOptions.Greedy(8)), restored.Complete("the", SamplingOptions.Greedy(8)));
        }
        finally { File.Delete(file); }
    }

    /// <summary>A stream that cannot seek or tell its length, as a socket's.</summary>
    sealed class ForwardOnly(byte[] bytes) : Stream
    {
        readonly MemoryStream _inner = new(bytes);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 1000));
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [TestMethod]
    [DynamicData(nameof(Models))]
    public void MemoryAndRecentTokensContinueExactlyWithARepetitionPenalty(string ttt)
    {
        using var llama = Create(ttt);
        using var a = llama.CreateSession();
        a.Complete("the whale swam in the sea. the sea", Penalized);
        var memory = new MemoryStream();
        a.SaveMemory(memory);
        int[] recent = a.RecentTokens();
        Assert.HasCount(Math.Min((int)a.Position, LlamaSession.RepetitionWindow), recent);
        string uninterrupted = a.Complete(" the whale", Penalized);

        using var b = llama.CreateSession();
        b.LoadMemory(new MemoryStream(memory.ToArray()), "test memory");
        b.RestoreRecentTokens(recent);
        CollectionAssert.AreEqual(recent, b.RecentTokens());
        Assert.AreEqual(uninterrupted, b.Complete(" the whale", Penalized));

        // Without the recent tokens the penalty sees a different past: the memory alone is not the whole session.
        using var c = llama.CreateSession();
        c.LoadMemory(new MemoryStream(memory.ToArray()));
        Assert.IsEmpty(c.RecentTokens());
        Assert.AreNotEqual(uninterrupted, c.Complete(" the whale", Penalized));
    }

    [TestMethod]
    public void ABadStreamIsRejectedNamingTheSourceAndLeavesTheMemory()
    {
        using var llama = TinyLlama.Create(seed: 3);
        using var s = llama.CreateSession();
        s.Learn("the sea");
        var bytes = new MemoryStream();
        s.SaveMemory(bytes);
        long position = s.Position;
        using var fresh = llama.CreateSession();
        var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => fresh.LoadMemory(new MemoryStream(bytes.ToArray()[..^4]), "conversation 'abc' memory"));
        StringAssert.StartsWith(e.Message, "conversation 'abc' memory: truncated");
        Assert.AreEqual(0L, fresh.Position);
        using var other = TinyLlama.Create(seed: 4);
        var foreign = Assert.ThrowsExactly<BitLlamaFormatException>(() => other.CreateSession().LoadMemory(new MemoryStream(bytes.ToArray())));
        StringAssert.Contains(foreign.Message, "another model");
        Assert.AreEqual(position, s.Position);
    }

    [TestMethod]
    public void RecentTokensKeepTheWindowAndRejectIdsOutsideTheVocabulary()
    {
        using var llama = TinyLlama.Create(seed: 3);
        using var s = llama.CreateSession();
        var many = Enumerable.Range(0, LlamaSession.RepetitionWindow + 40).Select(i => i % 50).ToArray();
        s.RestoreRecentTokens(many);
        CollectionAssert.AreEqual(many[^LlamaSession.RepetitionWindow..], s.RecentTokens());
        int vocab = llama.Config.VocabSize;
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => s.RestoreRecentTokens([1, vocab]));
        StringAssert.Contains(e.Message, $"tokens[1] is {vocab}");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => s.RestoreRecentTokens([-1]));
        CollectionAssert.AreEqual(many[^LlamaSession.RepetitionWindow..], s.RecentTokens(), "a rejected list changes nothing");
    }
}
