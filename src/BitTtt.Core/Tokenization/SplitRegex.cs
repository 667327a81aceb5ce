using System.Text.RegularExpressions;

namespace BitTtt.Tokenization;

/// <summary>
/// Builds the regex of a file-supplied Split pattern so that no input can make it run for long: on .NET's
/// non-backtracking engine (linear in the input) whenever the pattern allows it; patterns that need
/// backtracking (lookarounds, backreferences, atomic groups, e.g. GPT-2's <c>\s+(?!\S)</c>) run on the
/// backtracking engine with <see cref="BitLlamaLoadLimits.RegexMatchTimeout"/> per match, and a timeout is a
/// <see cref="BitLlamaFormatException"/> naming the tokenizer (<see cref="SplitPreTokenizer"/>).
/// </summary>
internal static class SplitRegex
{
    public static Regex Create(string pattern, string? source, BitLlamaLoadLimits limits)
    {
        if (pattern.Length > limits.MaxRegexLength)
            throw BitLlamaFormatException.In(source,
                $"pre_tokenizer Split pattern is {pattern.Length} characters, more than {limits.MaxRegexLength} (BitLlamaLoadLimits.MaxRegexLength)");
        try
        {
            try
            {
                return new Regex(pattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
            }
            catch (NotSupportedException)
            {
                return new Regex(pattern, RegexOptions.CultureInvariant, limits.RegexMatchTimeout);
            }
        }
        catch (ArgumentException e)
        {
            throw BitLlamaFormatException.In(source, $"pre_tokenizer Split pattern '{Shorten(pattern)}' is not a .NET regular expression ({e.Message})", e);
        }
    }

    public static string Shorten(string pattern) => pattern.Length <= 80 ? pattern : pattern[..77] + "...";
}
