using System.Collections.Concurrent;
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
    // Building a non-backtracking regex costs about a millisecond of CPU (its character-class algebra), more than
    // the rest of a tokenizer's load; every tokenizer.json we write carries the same pattern, so built regexes are
    // kept by (pattern, timeout). A Regex is immutable and safe to share between threads. Bounded: when full the
    // cache is emptied, so hostile files with ever-new patterns cannot grow it.
    const int CacheCapacity = 32;
    static readonly ConcurrentDictionary<(string Pattern, TimeSpan Timeout), Regex> Cache = new();

    /// <summary>How many built regexes are kept now (at most 32).</summary>
    public static int CachedCount => Cache.Count;

    public static Regex Create(string pattern, string? source, BitLlamaLoadLimits limits)
    {
        if (pattern.Length > limits.MaxRegexLength)
            throw BitLlamaFormatException.In(source,
                $"pre_tokenizer Split pattern is {pattern.Length} characters, more than {limits.MaxRegexLength} (BitLlamaLoadLimits.MaxRegexLength)");
        var key = (pattern, limits.RegexMatchTimeout);
        if (Cache.TryGetValue(key, out var cached)) return cached;
        var regex = Build(pattern, source, limits);
        if (Cache.Count >= CacheCapacity) Cache.Clear();
        Cache.TryAdd(key, regex);
        return regex;
    }

    static Regex Build(string pattern, string? source, BitLlamaLoadLimits limits)
    {
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
