using System.Text;
using System.Text.RegularExpressions;

namespace BitTtt.Tokenization;

/// <summary>
/// GPT-2's byte-level alphabet: every byte 0..255 is written as one printable Unicode character, so a
/// byte-level vocabulary is a set of ordinary strings (the ones a Hugging Face <c>tokenizer.json</c>
/// holds). Printable Latin-1 bytes map to themselves; the other 68 bytes (controls, space, 0x7F-0xA0,
/// 0xAD) map to U+0100 upwards in byte order, so a space is written 'Ġ' (U+0120) and a newline 'Ċ'.
/// </summary>
internal static partial class ByteLevel
{
    /// <summary>
    /// The GPT-2 pre-tokenizer split pattern. Every character of the input lands in exactly one match,
    /// which is what makes byte-level BPE lossless.
    /// </summary>
    public const string SplitPattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private static readonly char[] ByteToCharTable = BuildByteToChar();
    private static readonly Dictionary<char, byte> CharToByteTable = BuildCharToByte();

    [GeneratedRegex(SplitPattern)]
    public static partial Regex SplitRegex();

    /// <summary>The alphabet character that stands for <paramref name="b"/>.</summary>
    public static char ByteToChar(byte b) => ByteToCharTable[b];

    /// <summary>The alphabet string for a byte sequence (what a vocabulary key looks like).</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        return string.Create(bytes.Length, bytes.ToArray(), static (dest, src) =>
        {
            for (int i = 0; i < src.Length; i++) dest[i] = ByteToCharTable[src[i]];
        });
    }

    /// <summary>The bytes a vocabulary string stands for, or false when it holds a character outside the alphabet.</summary>
    public static bool TryDecode(string token, out byte[] bytes)
    {
        bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            if (!CharToByteTable.TryGetValue(token[i], out bytes[i])) return false;
        }
        return true;
    }

    /// <summary>The UTF-8 bytes of <paramref name="text"/> as alphabet characters.</summary>
    public static string EncodeText(string text) => Encode(Encoding.UTF8.GetBytes(text));

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = printable ? (char)b : (char)(256 + next++);
        }
        return table;
    }

    private static Dictionary<char, byte> BuildCharToByte()
    {
        var map = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++) map[ByteToCharTable[b]] = (byte)b;
        return map;
    }
}
