using System.Text;
using BitTtt.Inference;
using BitTtt.Inference.Sampling;

namespace BitTtt.Tests.Shared;

/// <summary>
/// Completions that a token limit stops in the middle of a multi-byte character, found by replaying the sampler
/// outside the library: the same logits (<see cref="LlamaSession.Logits"/>), the same <see cref="Sampler"/> and seed,
/// no repetition penalty (so the sampler's context does not matter). The expected text is the UTF-8 of the sampled
/// tokens' bytes up to the last whole character: what every door must print, with no U+FFFD at the end.
/// </summary>
internal static class MidCharacterCompletions
{
    public sealed record Case(string Prompt, SamplingOptions Options, string Expected, bool EndsMidCharacter);

    /// <summary>Sampling settings that pick multi-byte tokens often on a random tiny model.</summary>
    public static SamplingOptions Options(int maxTokens, int seed) =>
        new() { MaxTokens = maxTokens, Temperature = 2f, TopK = 0, TopP = 1f, RepetitionPenalty = 1f, Seed = seed };

    /// <summary>Every (seed, token limit) of the grid, replayed on <paramref name="llama"/>.</summary>
    public static List<Case> Find(Llama llama, string prompt, IEnumerable<int> seeds, IEnumerable<int> maxTokens)
    {
        var cases = new List<Case>();
        foreach (int seed in seeds)
            foreach (int k in maxTokens) cases.Add(Replay(llama, prompt, Options(k, seed)));
        return cases;
    }

    public static Case Replay(Llama llama, string prompt, SamplingOptions options)
    {
        var tokenizer = llama.Tokenizer;
        int vocab = Math.Min(llama.Config.VocabSize, tokenizer.VocabSize);
        using var session = llama.CreateSession();
        var logits = session.Logits(tokenizer.Encode(prompt));
        var sampler = new Sampler(options, vocab, tokenizer.Utf8Table);
        var bytes = new List<byte>();
        for (int i = 0; i < options.MaxTokens; i++)
        {
            int next = sampler.Sample(logits.AsSpan(0, vocab), []);
            if (next == tokenizer.EosId) break;
            bytes.AddRange(tokenizer.GetTokenBytes(next).ToArray());
            logits = session.Logits([next]);
        }
        int whole = WholeCharacters(bytes);
        return new Case(prompt, options, Encoding.UTF8.GetString(bytes.GetRange(0, whole).ToArray()), whole < bytes.Count);
    }

    /// <summary>The length of the longest prefix of valid UTF-8 that ends at a character boundary.</summary>
    static int WholeCharacters(List<byte> bytes)
    {
        for (int start = bytes.Count - 1; start >= Math.Max(0, bytes.Count - 3); start--)
        {
            byte b = bytes[start];
            if ((b & 0xC0) == 0x80) continue;                                     // a continuation byte: look further back
            int need = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
            return bytes.Count - start >= need ? bytes.Count : start;             // the last character complete, or cut off
        }
        return bytes.Count;
    }
}
