using System.Text.RegularExpressions;

namespace BitTtt.Tokenization;

/// <summary>
/// Counts pre-tokenized words (GPT-2 split pattern) of a corpus read in chunks, never holding the whole
/// corpus. A chunk is cut only just before a space, '\n' or '\r' that follows a non-whitespace character:
/// no split match can cross that point (letter, digit and punctuation runs stop at whitespace, and a
/// whitespace run, or a word with its leading space, starts there), so the words are exactly those of
/// pre-tokenizing the whole text at once.
/// </summary>
internal sealed class CorpusWordCounter
{
    private const int ChunkChars = 1 << 16;
    // A single line longer than this (no safe cut point) is split anyway; only words at the cut can differ.
    private const int MaxCarryChars = 1 << 24;

    private readonly Regex _split = ByteLevel.SplitRegex();
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    private readonly int _chunkChars;

    public CorpusWordCounter(int chunkChars = ChunkChars)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkChars, 1);
        _chunkChars = chunkChars;
        _lookup = _counts.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Word (a split match) to the number of times it occurs.</summary>
    public IReadOnlyDictionary<string, long> Counts => _counts;

    public long Characters { get; private set; }

    /// <summary>Counts the words of one complete text (a document: nothing continues it).</summary>
    public void AddText(ReadOnlySpan<char> text)
    {
        Characters += text.Length;
        foreach (ValueMatch m in _split.EnumerateMatches(text))
        {
            ReadOnlySpan<char> word = text.Slice(m.Index, m.Length);
            _lookup[word] = _lookup.TryGetValue(word, out long c) ? c + 1 : 1;
        }
    }

    /// <summary>Streams <paramref name="reader"/> to its end in chunks, counting its words.</summary>
    public void AddReader(TextReader reader, CancellationToken cancellationToken)
    {
        char[] buffer = new char[_chunkChars];
        int filled = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (filled == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
            int read = reader.Read(buffer, filled, buffer.Length - filled);
            if (read == 0)
            {
                AddText(buffer.AsSpan(0, filled));
                return;
            }
            filled += read;
            int cut = SafeCut(buffer.AsSpan(0, filled));
            if (cut <= 0 && filled < MaxCarryChars) continue;
            if (cut <= 0) cut = filled;
            AddText(buffer.AsSpan(0, cut));
            buffer.AsSpan(cut, filled - cut).CopyTo(buffer);
            filled -= cut;
        }
    }

    /// <summary>The last index k where text[k] is ' ', '\n' or '\r' and text[k-1] is not whitespace, or -1.</summary>
    internal static int SafeCut(ReadOnlySpan<char> text)
    {
        for (int k = text.Length - 1; k >= 1; k--)
        {
            if (text[k] is ' ' or '\n' or '\r' && !char.IsWhiteSpace(text[k - 1])) return k;
        }
        return -1;
    }
}
