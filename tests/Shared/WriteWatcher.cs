using System.Diagnostics;

namespace BitTtt.Tests.Shared;

/// <summary>
/// Counts the temporaries (<c>.NAME.PID.GUID.tmp</c> of AtomicFile / AtomicDirectory / TokenFileWriter) created in
/// a directory whose names contain a fragment — inotify, through FileSystemWatcher — so a SIGKILL test can wait for
/// the n-th write of one file to begin instead of sleeping or polling.
/// </summary>
internal sealed class WriteWatcher : IDisposable
{
    readonly FileSystemWatcher _watcher;
    readonly object _gate = new();
    string _fragment = "\0";
    int _seen;

    public WriteWatcher(string directory)
    {
        _watcher = new FileSystemWatcher(directory) { IncludeSubdirectories = false, NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName };
        _watcher.Created += (_, e) =>
        {
            lock (_gate)
            {
                if (e.Name is { } name && IsTemporary(name) && name.Contains(_fragment, StringComparison.Ordinal))
                {
                    _seen++;
                    Monitor.PulseAll(_gate);
                }
            }
        };
        _watcher.EnableRaisingEvents = true;
    }

    static bool IsTemporary(string name) => name.StartsWith('.') && name.EndsWith(".tmp", StringComparison.Ordinal);

    /// <summary>The temporary files and directories in <paramref name="directory"/> (left by a killed writer, or of a running one).</summary>
    public static string[] Temporaries(string directory) =>
        [.. Directory.EnumerateFileSystemEntries(directory, ".*")
            .Where(e => IsTemporary(Path.GetFileName(e)) || e.EndsWith(".old", StringComparison.Ordinal))];

    /// <summary>Starts counting the writes whose temporary name contains <paramref name="fragment"/>.</summary>
    public void Expect(string fragment)
    {
        lock (_gate) (_fragment, _seen) = (fragment, 0);
    }

    /// <summary>True once the <paramref name="nth"/> such write has begun; false when the process ended first.</summary>
    public bool WaitFor(int nth, Process process)
    {
        var clock = Stopwatch.StartNew();
        lock (_gate)
        {
            while (_seen < nth)
            {
                if (process.HasExited || clock.Elapsed > TimeSpan.FromMinutes(2)) return false;
                Monitor.Wait(_gate, 20);
            }
            return true;
        }
    }

    /// <summary>
    /// Starts <c>dotnet DLL ARGS</c> (DLL beside the test assembly) as a child to be killed: stdin closed, stdout and
    /// stderr drained in the background so a full pipe never blocks it.
    /// </summary>
    public static Process StartChild(string dll, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, dll));
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.StandardInput.Close();
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        return p;
    }

    /// <summary>
    /// SIGKILLs <paramref name="process"/> 0-5 ms after a write began: inside the write (a tiny file's takes a few
    /// ms, most of it the flush) or just after it.
    /// </summary>
    public static void Kill(Process process, Random rng)
    {
        int delay = rng.Next(0, 6);
        if (delay > 0) Thread.Sleep(delay);
        try { process.Kill(); } catch (InvalidOperationException) { }   // SIGKILL on Unix
        process.WaitForExit();
        process.Dispose();
    }

    public void Dispose() => _watcher.Dispose();
}
