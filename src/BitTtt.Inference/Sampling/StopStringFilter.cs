namespace BitTtt.Inference.Sampling;

/// <summary>
/// Streams generated text while watching for stop strings: text that could still become the start of
/// a stop string is held back until it cannot, and generation ends before the first stop string
/// (which is never emitted). Without stop strings text passes straight through.
/// </summary>
public sealed class StopStringFilter
{
    readonly IReadOnlyList<string> _stops;
    readonly System.Text.StringBuilder _pending = new();

    public StopStringFilter(IReadOnlyList<string> stopStrings)
    {
        ArgumentNullException.ThrowIfNull(stopStrings);
        if (stopStrings.Any(string.IsNullOrEmpty))
            throw new ArgumentException("stop strings must not be null or empty", nameof(stopStrings));
        _stops = stopStrings;
    }

    /// <summary>True once a stop string was seen; nothing more will be emitted.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds generated text; returns the part that is now safe to emit (possibly empty).</summary>
    public string Append(string text)
    {
        if (Stopped || text.Length == 0) return "";
        if (_stops.Count == 0) return text;
        _pending.Append(text);
        string pending = _pending.ToString();
        int first = -1;
        foreach (var stop in _stops)
        {
            int at = pending.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        if (first >= 0)
        {
            Stopped = true;
            _pending.Clear();
            return pending[..first];
        }
        int hold = 0;   // longest suffix of pending that is a proper prefix of some stop string
        foreach (var stop in _stops)
            for (int len = Math.Min(stop.Length - 1, pending.Length); len > hold; len--)
                if (string.CompareOrdinal(pending, pending.Length - len, stop, 0, len) == 0) { hold = len; break; }
        int emit = pending.Length - hold;
        if (emit > 0 && char.IsHighSurrogate(pending[emit - 1])) emit--;   // never split a surrogate pair
        _pending.Remove(0, emit);
        return pending[..emit];
    }

    /// <summary>At the end of generation: whatever was held back and is not a stop string.</summary>
    public string Flush()
    {
        if (Stopped) return "";
        string rest = _pending.ToString();
        _pending.Clear();
        return rest;
    }
}
