namespace BitTtt.Tests.Shared;

/// <summary>The repository a test runs from (tests read its project files and docs, or run its samples).</summary>
internal static class RepositoryRoot
{
    /// <summary>The first folder above the test's output that holds the solution.</summary>
    public static string Path { get; } = Find();

    static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "BitTtt.MLNet.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no BitTtt.MLNet.sln in a folder above {AppContext.BaseDirectory}");
    }
}
