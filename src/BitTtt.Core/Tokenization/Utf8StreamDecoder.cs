using System.Text;

namespace BitTtt.Tokenization;

/// <summary>
/// Turns token ids, given one at a time, into text that never splits a character: a byte-level token
/// may end inside a multi-byte UTF-8 sequence (an emoji is often two or three byte tokens), so the bytes
/// of an unfinished sequence are held until the token that completes it arrives. The holding is .NET's
/// stateful UTF-8 <see cref="Decoder"/>: invalid bytes become U+FFFD as soon as they are known to be
/// invalid, exactly as <see cref="Encoding.UTF8"/> decodes the whole byte string at once.
/// <see cref="Flush"/> returns whatever is held, an unfinished sequence as U+FFFD.
/// Create one with <see cref="BitLlamaTokenizer.CreateStreamDecoder"/>.
/// </summary>
public sealed class Utf8StreamDecoder
{
    // At most 3 bytes of an unfinished sequence are held, and UTF-8 never gives more chars than bytes + 1.
    const int HeldBytes = 3;

    private readonly BitLlamaTokenizer _tokenizer;
    private readonly Decoder _utf8 = Encoding.UTF8.GetDecoder();
    private char[] _chars = new char[64];

    internal Utf8StreamDecoder(BitLlamaTokenizer tokenizer) => _tokenizer = tokenizer;

    /// <summary>Adds one token; returns the characters it completes (possibly empty).</summary>
    public string Append(int tokenId) => Decode(_tokenizer.TokenBytes(tokenId), flush: false);

    /// <summary>Returns the held bytes as text (an unfinished sequence becomes U+FFFD) and clears them.</summary>
    public string Flush() => Decode([], flush: true);

    /// <summary>Drops held bytes without returning them.</summary>
    public void Reset() => _utf8.Reset();

    private string Decode(ReadOnlySpan<byte> bytes, bool flush)
    {
        int most = Encoding.UTF8.GetMaxCharCount(bytes.Length + HeldBytes);
        if (_chars.Length < most) _chars = new char[most];
        int count = _utf8.GetChars(bytes, _chars, flush);
        return count == 0 ? string.Empty : new string(_chars, 0, count);
    }
}
