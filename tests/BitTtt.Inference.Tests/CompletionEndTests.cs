using BitTtt.Tests.Shared;

namespace BitTtt.Inference.Tests;

/// <summary>
/// A completion that its token limit stops in the middle of a multi-byte character drops that character's bytes: the
/// text never ends in U+FFFD, through Complete, Generate and streaming, batched or not.
/// </summary>
[TestClass]
public sealed class CompletionEndTests
{
    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public async Task ACompletionStoppedMidCharacterEndsAtTheLastWholeCharacter(bool batching)
    {
        var c = TinyLlama.Config();
        using var llama = Llama.FromWeights(c, TinyLlama.Tokenizer(), TinyLlama.Tensors(c, 3), new InferenceOptions { Batching = batching });
        var cases = MidCharacterCompletions.Find(llama, "héllo 你好", Enumerable.Range(0, 30), [1, 2, 3, 5]);
        Assert.IsGreaterThanOrEqualTo(5, cases.Count(x => x.EndsMidCharacter), "the grid must hit the mid-character case");
        foreach (var x in cases)
        {
            string what = $"seed {x.Options.Seed}, {x.Options.MaxTokens} tokens";
            Assert.AreEqual(x.Expected, llama.Complete(x.Prompt, x.Options), what);
            Assert.IsFalse(x.Expected.Contains('\uFFFD'), what);
            var streamed = new List<string>();
            await foreach (var piece in llama.CompleteStreamingAsync(x.Prompt, x.Options)) streamed.Add(piece);
            Assert.AreEqual(x.Expected, string.Concat(streamed), what + ", streamed");
            var generated = await llama.CompleteAsync(x.Prompt, x.Options);
            Assert.AreEqual(x.Expected, generated.Text, what);
            if (x.EndsMidCharacter) Assert.AreEqual(LlamaFinishReason.Length, generated.FinishReason, what);   // the end of sequence never comes mid-character
        }
    }
}
