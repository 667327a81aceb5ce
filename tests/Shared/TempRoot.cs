namespace BitTtt.Tests.Shared;

/// <summary>
/// One temp folder per test process (<c>NAME-PID</c>), so concurrent test runs on a shared machine never touch each
/// other's files; the test assembly's one [AssemblyCleanup] deletes it with everything under it.
/// </summary>
internal sealed class TempRoot(string name)
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{name}-{Environment.ProcessId}");

    /// <summary>A new, empty directory under <see cref="Path"/>.</summary>
    public string NewDirectory() => Directory.CreateDirectory(System.IO.Path.Combine(Path, Guid.NewGuid().ToString("N"))).FullName;

    public void Delete()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }   // already gone, or a file still open: the folder is per process, so nothing else is harmed
    }
}
