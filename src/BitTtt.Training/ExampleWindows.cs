namespace BitTtt.Training;

// Shape key (docs/model.md): B = batch, T = time (context_len tokens per row).

/// <summary>How a corpus of examples (conversations) fits the training window, counted when a run starts.</summary>
/// <param name="Examples">Examples in the corpus.</param>
/// <param name="Trained">Examples with at least one counted token inside the window: the ones training draws.</param>
/// <param name="Cut">Examples longer than the window (<c>context_len + 1</c> tokens): trained on their first window only.</param>
/// <param name="Skipped">Examples whose first counted token lies past the window: never drawn.</param>
public sealed record ExampleStats(int Examples, int Trained, int Cut, int Skipped);

/// <summary>
/// The training rows of a corpus of examples (a version-2 <see cref="TokenFile"/>): row i is one example from its
/// first token, cut to the window of <c>context_len + 1</c> tokens when longer (the rule of docs/training.md,
/// "Conversations"), padded after its end with masked positions. The TTT state starts empty at every example, as
/// in a new conversation. The mask of each prediction is the target flag of the predicted token, or, with
/// <c>trainOnAll</c>, every real token after the first.
/// </summary>
internal sealed class ExampleWindows
{
    readonly TokenFile _tokens;
    readonly int _window;
    readonly bool _trainOnAll;
    readonly long[] _starts;    // trained examples: first token
    readonly int[] _lengths;    // trained examples: tokens inside the window

    public ExampleWindows(TokenFile tokens, int window, bool trainOnAll)
    {
        _tokens = tokens;
        _window = window;
        _trainOnAll = trainOnAll;
        var all = tokens.ExampleStarts;
        var starts = new List<long>();
        var lengths = new List<int>();
        int cut = 0;
        var flags = new byte[window];
        for (int e = 0; e < all.Count; e++)
        {
            long end = e + 1 < all.Count ? all[e + 1] : tokens.Count;
            long length = end - all[e];
            if (length > window) cut++;
            int inside = (int)Math.Min(length, window);
            tokens.CopyFlags(all[e], flags.AsSpan(0, inside));
            bool counted = false;
            for (int t = 1; t < inside && !counted; t++) counted = trainOnAll || (flags[t] & TokenFile.Target) != 0;
            if (!counted) continue;
            starts.Add(all[e]);
            lengths.Add(inside);
        }
        _starts = [.. starts];
        _lengths = [.. lengths];
        Stats = new ExampleStats(all.Count, _starts.Length, cut, all.Count - _starts.Length);
    }

    public ExampleStats Stats { get; }

    /// <summary>Examples a row can be drawn from.</summary>
    public int Count => _starts.Length;

    /// <summary>
    /// Fills row <paramref name="row"/> of (B, T + 1) <paramref name="ids"/> and of the (B, T) prediction
    /// <paramref name="mask"/> with example <paramref name="example"/>; positions past its end are id 0, mask 0.
    /// </summary>
    public void Fill(int example, int row, long[] ids, float[] mask)
    {
        int length = _lengths[example], predictions = _window - 1;
        var tokens = new int[length];
        var flags = new byte[length];
        _tokens.CopyTo(_starts[example], tokens);
        _tokens.CopyFlags(_starts[example], flags);
        for (int t = 0; t < _window; t++) ids[(long)row * _window + t] = t < length ? tokens[t] : 0;
        for (int t = 0; t < predictions; t++)
        {
            int predicted = t + 1;   // the prediction at position t is of token t + 1
            bool counted = predicted < length && (_trainOnAll || (flags[predicted] & TokenFile.Target) != 0);
            mask[(long)row * predictions + t] = counted ? 1f : 0f;
        }
    }
}
