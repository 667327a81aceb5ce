using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace BitTtt.MLNet;

/// <summary>
/// Warns when a text column a BitLlama component trains on looks cut by ML.NET's <c>TextLoader</c>
/// (<c>LoadFromTextFile</c>), which splits each line at its separator (a tab by default) and keeps one field, and skips
/// lines starting with <c>//</c> as comments. It follows the view's <c>Source</c> chain down to the TextLoader (its
/// bound view and its files are internal to ML.NET: read by reflection, pinned by LoaderCheckTests at ML.NET 5.0.1),
/// reads the first rows of the column there and the lines of the file they came from, and compares them.
/// Advice only: a view it cannot follow, or rows that do not come one by one from lines (a header, another column),
/// give no warning, and nothing here can fail a Fit.
/// </summary>
internal static class LoaderCheck
{
    const int RowsCompared = 2_000;

    public static void WarnIfCut(IDataView data, string textColumn, IChannel channel)
    {
        Verdict? verdict;
        try { verdict = Check(data, textColumn); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return;   // ML.NET internals changed, or the file moved: no advice rather than a failed Fit
        }
        if (verdict is not { } v) return;
        if (v.Cut > 0)
            channel.Warning(MessageSensitivity.None,
                $"Column '{textColumn}' looks cut by its loader: {v.Cut} of the first {v.Compared} rows are shorter than the line of '{v.Path}' " +
                $"they were read from ('{Show(v.Example.Line)}' was read as '{Show(v.Example.Value)}'). LoadFromTextFile splits each line at its " +
                "separator (a tab by default) and keeps one field. To train on whole lines load them with mlContext.Data.LoadTextLines(path) " +
                "(docs/mlnet.md, \"Loading text\").");
        if (v.Comments > 0)
            channel.Warning(MessageSensitivity.None,
                $"Column '{textColumn}': {v.Comments} lines of '{v.Path}' starting with // are missing (TextLoader skips them as comments). " +
                "mlContext.Data.LoadTextLines(path) keeps them.");
    }

    internal readonly record struct Verdict(int Compared, int Cut, int Comments, (string Line, string Value) Example, string Path);

    internal static Verdict? Check(IDataView data, string textColumn)
    {
        if (FindTextLoader(data) is not { } loader) return null;
        if (loader.Schema.GetColumnOrNull(textColumn) is not { Type: TextDataViewType } column) return null;
        if (loader.GetType().GetField("_files", BindingFlags.Instance | BindingFlags.NonPublic)?.GetValue(loader) is not IMultiStreamSource files
            || files.Count == 0)
            return null;
        using var lines = Lines(files).GetEnumerator();
        int compared = 0, cut = 0, comments = 0;
        (string, string) example = default;
        foreach (string value in Values(loader, column))
        {
            int unmatched = 0;
            while (true)
            {
                if (!lines.MoveNext()) return Result();
                string raw = lines.Current;
                if (raw.Length == 0) continue;                                  // TextLoader skips empty lines
                string line = raw.TrimStart();                                  // ... and leading whitespace
                if (line.StartsWith("//", StringComparison.Ordinal) && line != value) { comments++; continue; }
                if (line == value || raw == value) { compared++; break; }
                if (line.Length > value.Length && line.StartsWith(value, StringComparison.Ordinal))
                {
                    if (cut++ == 0) example = (raw, value);
                    compared++;
                    break;
                }
                if (++unmatched > 2) return null;   // a header, or another field than the first: rows are not the lines' starts
            }
        }
        return Result();

        Verdict? Result() => compared == 0 ? null : new Verdict(compared, cut, comments, example, files.GetPathOrNull(0) ?? "the loaded file");
    }

    /// <summary>Down the chain of transformed views (each has a <c>Source</c>) to ML.NET's TextLoader view, if any.</summary>
    static IDataView? FindTextLoader(IDataView? view)
    {
        for (int depth = 0; view is not null && depth < 100; depth++)
        {
            if (view.GetType().DeclaringType == typeof(TextLoader)) return view;
            view = view.GetType().GetProperty("Source", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)?.GetValue(view) as IDataView;
        }
        return null;
    }

    static IEnumerable<string> Values(IDataView loader, DataViewSchema.Column column)
    {
        using var cursor = loader.GetRowCursor([column]);
        var getter = cursor.GetGetter<ReadOnlyMemory<char>>(column);
        ReadOnlyMemory<char> value = default;
        for (int i = 0; i < RowsCompared && cursor.MoveNext(); i++)
        {
            getter(ref value);
            yield return value.ToString();
        }
    }

    static IEnumerable<string> Lines(IMultiStreamSource files)
    {
        for (int i = 0; i < files.Count; i++)
        {
            using var reader = files.OpenTextReader(i);
            while (reader.ReadLine() is { } line) yield return line;
        }
    }

    static string Show(string text)
    {
        string shown = text.Replace("\t", "\\t", StringComparison.Ordinal);
        return shown.Length <= 80 ? shown : shown[..77] + "...";
    }
}
