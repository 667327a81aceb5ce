namespace BitTtt.Inference.Tests;

/// <summary>The Inference tests' temp directories: one <see cref="TempRoot"/> per test process, deleted once at the end.</summary>
[TestClass]
public static class TempFiles
{
    static readonly TempRoot Root = new("bitttt-inference-tests");

    /// <summary>A new, empty directory, deleted with the rest when the test assembly ends.</summary>
    internal static string NewDirectory() => Root.NewDirectory();

    [AssemblyCleanup]
    public static void Delete() => Root.Delete();
}
