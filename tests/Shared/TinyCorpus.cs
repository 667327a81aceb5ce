namespace BitTtt.Tests.Shared;

/// <summary>A few KB of data/moby-dick.txt in temp files, for the tests that train or tokenize through ML.NET.</summary>
internal static class TinyCorpus
{
    static readonly TempRoot Root = new("bitttt-tests");

    public static string Directory { get; } = System.IO.Directory.CreateDirectory(Root.Path).FullName;

    /// <summary>The first ~8 KB of the book, one paragraph per line, in a temp file.</summary>
    public static string TextPath { get; } = WriteText("moby-small.txt", 0, 8_000);

    /// <summary>Later text of the book, for a validation set.</summary>
    public static string ValidationPath { get; } = WriteText("moby-valid.txt", 200_000, 3_000);

    public const int VocabSize = 320;

    public static string NewPath(string name) => Path.Combine(Directory, $"{Guid.NewGuid():N}-{name}");

    /// <summary>Deletes the temp files; the one [AssemblyCleanup] of each test assembly calls it.</summary>
    public static void Delete() => Root.Delete();

    static string WriteText(string name, int start, int length)
    {
        string book = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "data", "moby-dick.txt"));
        int begin = book.IndexOf('\n', start) + 1;
        int end = book.IndexOf('\n', begin + length);
        string path = Path.Combine(Directory, name);
        File.WriteAllText(path, book[begin..end]);
        return path;
    }
}
