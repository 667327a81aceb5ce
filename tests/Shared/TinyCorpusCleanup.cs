namespace BitTtt.Tests.Shared;

[TestClass]
public static class TinyCorpusCleanup
{
    [AssemblyCleanup]
    public static void DeleteTempFiles() => TinyCorpus.Delete();
}
