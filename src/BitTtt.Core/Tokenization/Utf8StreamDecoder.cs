using System.Text;

namespace BitTtt.Tokenization;

/// <summary>
/// Turns token ids, given one at a time, into text that never splits a character: a byte-level token
/// may end inside a multi-byte UTF-8 sequence (an emoji is often two or three byte tokens), so the bytes
/// of an unfinished sequence are held until the token that completes it arrives.
/// <see cref="Flush"/> returns whatever is held, with invalid or unfinished sequences as U+FFFD.
/// Create one with <see cref="BitLlamaTokenizer.CreateStreamDecoder"/>.
/// </summary>
public sealed class Utf8StreamDecoder
{
    private readonly BitLlamaTokenizer _tokenizer;
    private readonly List<byte> _pending = new(8);

    internal Utf8StreamDecoder(BitLlamaTokenizer tokenizer) => _tokenizer = tokenizer;

    /// <summary>Adds one token; returns the characters it completes (possibly empty).</summary>
    public string Append(int tokenId)
    {
        _pending.AddRange(_tokenizer.TokenBytes(tokenId));
        int complete = CompletePrefixLength(_pending);
        if (complete == 0) return string.Empty;
        string text = Decode(complete);
        _pending.RemoveRange(0, complete);
        return text;
    }

    /// <summary>Returns the held bytes as text (unfinished sequences become U+FFFD) and clears them.</summary>
    public string Flush()
    {
        string text = Decode(_pending.Count);
        _pending.Clear();
        return text;
    }

    /// <summary>Drops held bytes without returning them.</summary>
    public void Reset() => _pending.Clear();

    private string Decode(int count) =>
        count == 0 ? string.Empty : Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending)[..count]);

    /// <summary>
    /// Length of the longest prefix that does not end inside a multi-byte sequence still waiting for
    /// continuation bytes. Only the last 3 bytes can belong to such a sequence (UTF-8 is at most 4 bytes).
    /// </summary>
    internal static int CompletePrefixLength(IReadOnlyList<byte> bytes)
    {
        int n = bytes.Count;
        for (int back = 1; back <= Math.Min(3, n); back++)
        {
            byte b = bytes[n - back];
            if ((b & 0xC0) == 0x80) continue;                 // continuation byte: look further back for its lead
            int needed = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 && b < 0xF0 ? 3 : b >= 0xC2 && b < 0xE0 ? 2 : 1;
            return needed > back ? n - back : n;              // lead still waiting for continuations => hold it
        }
        return n;                                             // only stray continuation bytes at the end: emit (as U+FFFD)
    }
}
