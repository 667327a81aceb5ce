using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace BitTtt.Tokenization;

/// <summary>
/// Hugging Face's <c>Split</c> pre-tokenizer with behavior <c>Isolated</c>: every match is a piece and so is
/// every stretch of text between matches, so no character is dropped whatever the pattern
/// (Microsoft.ML.Tokenizers' <see cref="RegexPreTokenizer"/> yields matches only, which is lossless just
/// for patterns such as GPT-2's that match everything).
/// </summary>
internal sealed class SplitPreTokenizer : PreTokenizer
{
    private readonly Regex _regex;
    private readonly string? _source;

    /// <param name="regex">The Split pattern, built by <see cref="SplitRegex.Create"/>.</param>
    /// <param name="source">The tokenizer file, named when the pattern times out.</param>
    public SplitPreTokenizer(Regex regex, string? source = null)
    {
        _regex = regex;
        _source = source;
    }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
        text is null ? [] : PreTokenize(text.AsSpan());

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text)
    {
        var pieces = new List<(int, int)>();
        int end = 0;
        try
        {
            foreach (ValueMatch m in _regex.EnumerateMatches(text))
            {
                if (m.Length == 0) continue;
                if (m.Index > end) pieces.Add((end, m.Index - end));
                pieces.Add((m.Index, m.Length));
                end = m.Index + m.Length;
            }
        }
        catch (RegexMatchTimeoutException e)
        {
            throw BitLlamaFormatException.In(_source,
                $"pre_tokenizer Split pattern '{SplitRegex.Shorten(_regex.ToString())}' took longer than {e.MatchTimeout.TotalSeconds:0.###} s on a {text.Length}-character text; "
                + "it backtracks catastrophically (fix the pattern, or raise BitLlamaLoadLimits.RegexMatchTimeout)", e);
        }
        if (end < text.Length) pieces.Add((end, text.Length - end));
        return KeepSurrogatePairs(pieces, text);
    }

    // A pattern that matches one UTF-16 unit (e.g. "[^\s\p{L}]") would cut an emoji's surrogate pair in two, and
    // each half would encode to U+FFFD: lossy. Pieces tile the text, so join any two that meet inside a pair.
    private static List<(int, int)> KeepSurrogatePairs(List<(int Offset, int Length)> pieces, ReadOnlySpan<char> text)
    {
        var joined = new List<(int Offset, int Length)>(pieces.Count);
        foreach (var piece in pieces)
        {
            if (joined.Count > 0 && joined[^1].Offset + joined[^1].Length is int at && at == piece.Offset
                && at > 0 && char.IsHighSurrogate(text[at - 1]) && char.IsLowSurrogate(text[at]))
            {
                joined[^1] = (joined[^1].Offset, joined[^1].Length + piece.Length);
                continue;
            }
            joined.Add(piece);
        }
        return [.. joined];
    }
}
