using System.Text;

namespace BitTtt.Cli;

/// <summary>Text from a file, made safe to print: a tensor name or error message holding ESC sequences must not
/// clear the screen, recolour it or retitle the terminal.</summary>
internal static class CliText
{
    /// <summary>C0/C1 controls (except none: newline and tab too, since one error is one line), DEL, lone
    /// surrogates and bidirectional overrides become <c>\uXXXX</c>; everything else is kept.</summary>
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text)) return text ?? "";
        if (!NeedsEscape(text)) return text;
        var sb = new StringBuilder(text.Length + 16);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            bool pair = char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);
            if (pair) { sb.Append(c).Append(text[++i]); continue; }
            if (IsUnsafe(c)) sb.Append("\\u").Append(((int)c).ToString("X4"));
            else sb.Append(c);
        }
        return sb.ToString();
    }

    static bool NeedsEscape(string text)
    {
        foreach (char c in text) if (IsUnsafe(c) || char.IsSurrogate(c)) return true;
        return false;
    }

    static bool IsUnsafe(char c) =>
        char.IsControl(c) || char.IsSurrogate(c) || c is '\u2028' or '\u2029' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069');
}
