using BitTtt.Formats;
using BitTtt.Tokenization;

namespace BitTtt.Inference.Tests;

[TestClass]
public sealed class ChatReplyTests
{
    static readonly ChatTurn[] Question = [new(ChatTurn.System, "the sea was calm."), new(ChatTurn.User, "the whale?")];
    static readonly ChatTurn[] FollowUp = [new(ChatTurn.User, "white <|end|> whale")];

    /// <summary>
    /// A tiny random model that stores the default chat template. <paramref name="endsAtOnce"/>: its end-of-turn row of
    /// the LM head is made 1.01 × the row of the token it would reply with first, so that the end of turn wins there.
    /// </summary>
    static Llama ChatModel(int seed = 1, bool endsAtOnce = false)
    {
        var tokenizer = TinyLlama.ChatTokenizer();
        var format = ChatFormat.Default(tokenizer);
        var config = format.StoreIn(TinyModels.DeltaConfig(vocab: tokenizer.VocabSize));
        var tensors = TinyLlama.Tensors(config, seed);
        if (!endsAtOnce) return Llama.FromWeights(config, tokenizer, tensors);
        float[] first;
        using (var plain = Llama.FromWeights(config, tokenizer, tensors))
            first = plain.CreateSession().Logits(format.EncodeReply(Question));
        int g = Array.IndexOf(first, first.Max()), d = config.HiddenDim;
        Assert.IsTrue(first[g] > 0, "the first reply token's logit is positive, so scaling its row up wins");
        int head = tensors.FindIndex(t => t.Name == BitLlamaWeights.LmHead);
        var data = tensors[head].Data.ToArray();
        for (int c = 0; c < d; c++) data[format.EndOfTurnId * d + c] = 1.01f * data[g * d + c];
        tensors[head] = tensors[head] with { Data = data };
        return Llama.FromWeights(config, tokenizer, tensors);
    }

    // Greedy decoding by hand: feed the prompt ids, then the argmax among the tokens that keep the text valid UTF-8 (as the
    // sampler does), until the end of turn or end of sequence (neither fed) or the limit.
    static (List<int> Ids, bool Ended) GreedyByHand(LlamaSession session, int[] prompt, int endOfTurn, int maxTokens)
    {
        var table = session.Model.Tokenizer.Utf8Table;
        byte state = Tokenization.Utf8TokenTable.Ready;
        var logits = session.Logits(prompt);
        var ids = new List<int>();
        for (int i = 0; i < maxTokens; i++)
        {
            int next = -1;
            for (int t = 0; t < logits.Length; t++)
                if (table.Allows(state, t) && (next < 0 || logits[t] > logits[next])) next = t;
            if (next == endOfTurn || next == session.Model.Tokenizer.EosId) return (ids, true);
            ids.Add(next);
            state = table.After(state, next);
            logits = session.Logits([next]);
        }
        return (ids, false);
    }

    [TestMethod]
    public void AReplyIsTheTemplatesPromptThenTokensUntilTheEndOfTurn()
    {
        using var llama = ChatModel();
        var format = llama.ChatFormat!;
        Assert.IsNotNull(format);
        var greedy = SamplingOptions.Greedy(12);
        using var session = llama.CreateSession();
        var reply = session.Reply(Question, greedy);
        using var byHand = llama.CreateSession();
        var (ids, ended) = GreedyByHand(byHand, format.EncodeReply(Question), format.EndOfTurnId, 12);
        // Whole characters only: a reply cut by its token limit inside a multi-byte character drops that character's
        // bytes (no U+FFFD at the end), as the stream decoder leaves them pending.
        var decoder = llama.Tokenizer.CreateStreamDecoder();
        Assert.AreEqual(string.Concat(ids.Select(decoder.Append)), reply.Text);
        Assert.AreEqual(format.EncodeReply(Question).Length, reply.PromptTokens);
        Assert.AreEqual(ids.Count, reply.CompletionTokens);
        Assert.AreEqual(ended ? LlamaFinishReason.EndOfTurn : LlamaFinishReason.Length, reply.FinishReason);

        // The next turn: the open turn is closed with one end of turn, then the new message (its "<|end|>" is text).
        var next = session.Reply(FollowUp, greedy);
        byHand.Logits([format.EndOfTurnId]);
        var (more, _) = GreedyByHand(byHand, format.EncodeReply(FollowUp), format.EndOfTurnId, 12);
        Assert.AreEqual(llama.Tokenizer.Decode(more), next.Text);
        Assert.AreEqual(1 + format.EncodeReply(FollowUp).Length, next.PromptTokens);
    }

    [TestMethod]
    public void TheEndOfTurnTokenStopsTheReplyAndIsNotText()
    {
        using var llama = ChatModel(endsAtOnce: true);
        var reply = llama.CreateSession().Reply(Question, SamplingOptions.Greedy(20));
        Assert.AreEqual("", reply.Text);
        Assert.AreEqual(0, reply.CompletionTokens);
        Assert.AreEqual(LlamaFinishReason.EndOfTurn, reply.FinishReason);
        var streamed = llama.CreateSession().ReplyStreamingAsync(Question, SamplingOptions.Greedy(20)).ToBlockingEnumerable().ToList();
        Assert.AreEqual(LlamaFinishReason.EndOfTurn, streamed[^1].FinishReason);
        Assert.AreEqual("", string.Concat(streamed.Select(u => u.Text)));
        Assert.AreEqual(reply, llama.CreateSession().ReplyAsync(Question, SamplingOptions.Greedy(20)).Result);
        // A plain completion of the same ids knows no turns: the end-of-turn token is generated as its text and generation goes on.
        string prompt = llama.Tokenizer.Decode(llama.ChatFormat!.EncodeReply(Question));
        var text = llama.CreateSession().Generate(prompt, SamplingOptions.Greedy(5));
        Assert.IsTrue(text.Text.StartsWith("<|end|>", StringComparison.Ordinal), text.Text);
        Assert.AreEqual(5, text.CompletionTokens);
    }

    [TestMethod]
    public void AReloadedMemoryContinuesExactlyAsTheSessionWould()
    {
        // What a conversation store (grains, evicted conversations) relies on: save after a turn, load elsewhere, same next reply.
        using var llama = ChatModel(seed: 2);
        var greedy = SamplingOptions.Greedy(8);
        string file = Path.Combine(Path.GetTempPath(), $"chat-{Guid.NewGuid():N}.bttm");
        try
        {
            using var session = llama.CreateSession();
            session.Reply(Question, greedy);
            session.SaveMemory(file);
            var uninterrupted = session.Reply(FollowUp, greedy);
            using var reloaded = llama.CreateSession();
            reloaded.LoadMemory(file);
            var continued = reloaded.Reply(FollowUp, greedy);
            Assert.AreEqual(uninterrupted, continued);
        }
        finally { File.Delete(file); }
    }

    [TestMethod]
    public void AModelWithoutATemplateRepliesInPlainText()
    {
        using var llama = TinyLlama.CreateDelta(seed: 3);
        Assert.IsNull(llama.ChatFormat);
        var options = new SamplingOptions { MaxTokens = 16, Seed = 9, Temperature = 0.9f };
        var reply = llama.CreateSession().Reply(Question, options);
        var byText = llama.CreateSession().Generate(ChatFormat.PlainTextPrompt(Question), options with { StopStrings = [ChatFormat.PlainTextStop] });
        Assert.AreEqual(byText, reply);
    }

    [TestMethod]
    public void BadMessagesAreRejectedBeforeAnythingIsFed()
    {
        using var llama = ChatModel();
        using var session = llama.CreateSession();
        Assert.ThrowsExactly<ArgumentException>(() => session.Reply([]));
        var e = Assert.ThrowsExactly<ArgumentException>(() => session.Reply([new ChatTurn("tool", "x")]));
        StringAssert.Contains(e.Message, "messages[0].role: role 'tool' is not supported (expected system, user or assistant)");
        Assert.AreEqual(0L, session.Position);
    }

    [TestMethod]
    public void ALoadedModelChecksItsTemplateAgainstItsTokenizer()
    {
        var tokenizer = TinyLlama.ChatTokenizer();
        var config = ChatFormat.Default(tokenizer).StoreIn(TinyModels.DeltaConfig(vocab: tokenizer.VocabSize));
        var bad = config with { Extra = new Dictionary<string, System.Text.Json.Nodes.JsonNode?>(config.Extra)
        {
            [ChatFormat.ConfigField] = System.Text.Json.Nodes.JsonNode.Parse("""{"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>", "end_of_turn": "</eot>"}"""),
        } };
        string path = Path.Combine(Path.GetTempPath(), $"chat-{Guid.NewGuid():N}.bitt");
        try
        {
            ModelPackage.WriteBitt(path, bad, TinyLlama.ChatTokenizerJson, TinyLlama.Tensors(bad, 1));
            var e = Assert.ThrowsExactly<BitLlamaFormatException>(() => Llama.LoadAuto(path));
            StringAssert.Contains(e.Message, "config field 'chat.end_of_turn': '</eot>' is not a special token of the tokenizer");
            ModelPackage.WriteBitt(path, config, TinyLlama.ChatTokenizerJson, TinyLlama.Tensors(config, 1));
            using var good = Llama.LoadAuto(path);
            Assert.AreEqual(tokenizer.SpecialTokenId("<|end|>"), good.ChatFormat!.EndOfTurnId);
        }
        finally { File.Delete(path); }
    }
}
