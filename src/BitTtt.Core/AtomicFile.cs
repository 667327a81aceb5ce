using System.Runtime.InteropServices;

namespace BitTtt;

/// <summary>
/// Writes a file so that readers see either the old file or the complete new one, never a torn one:
/// the content goes to a temporary file in the same directory, is flushed to disk, then renamed over
/// the target. On any failure the temporary file is deleted and the target is untouched.
/// Temporary names carry the writer's process id — <c>.NAME.PID.GUID.tmp</c> — so a later writer of the same
/// target removes what a killed writer left (<see cref="RemoveStaleTemporaries"/>), and never a live writer's.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CannotWrite(full, $"cannot create the folder {dir}: {e.Message}", e);
        }
        RemoveStaleTemporaries(full);
        string temp = TemporaryName(full, "tmp");
        try
        {
            FileStream file;
            try
            {
                file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw CannotWrite(full, Reason(e, temp, full), e);
            }
            using (var stream = file)
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            try
            {
                File.Move(temp, full, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw CannotWrite(full, Reason(e, temp, full), e);
            }
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    // The temporary file is an implementation detail: an error names the file the caller asked for, and why.
    static Exception CannotWrite(string target, string reason, Exception inner)
    {
        string message = $"{target}: cannot write the file ({reason})";
        return inner is UnauthorizedAccessException ? new UnauthorizedAccessException(message, inner) : new IOException(message, inner);
    }

    static string Reason(Exception e, string temp, string target) => e switch
    {
        UnauthorizedAccessException => $"permission denied in {Path.GetDirectoryName(target)}",
        DirectoryNotFoundException or FileNotFoundException => $"{Path.GetDirectoryName(target)} does not take new files",
        _ => e.Message.Replace(temp, target, StringComparison.Ordinal),
    };

    public static void WriteAllText(string path, string text) =>
        Write(path, s => { using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false), leaveOpen: true); w.Write(text); });

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary><c>DIR/.NAME.PID.GUID.SUFFIX</c> beside <paramref name="fullPath"/>.</summary>
    public static string TemporaryName(string fullPath, string suffix) =>
        Path.Combine(Path.GetDirectoryName(fullPath)!, $".{Path.GetFileName(fullPath)}.{Environment.ProcessId}.{Guid.NewGuid():N}.{suffix}");

    /// <summary>
    /// Deletes the temporary files and directories (<c>.NAME.PID.GUID.tmp</c>) that writers of
    /// <paramref name="fullPath"/> left when they were killed; a temporary whose process still runs is kept.
    /// A <c>.NAME.PID.GUID.old</c> directory of a dead writer (<see cref="AtomicDirectory"/>, killed between its two
    /// renames) is the previous complete version: it is moved back when the target is missing, else deleted.
    /// Returns how many entries were removed or restored. Never throws for an entry it cannot remove.
    /// </summary>
    public static int RemoveStaleTemporaries(string fullPath)
    {
        string dir = Path.GetDirectoryName(fullPath)!;
        string prefix = "." + Path.GetFileName(fullPath) + ".";
        if (!Directory.Exists(dir)) return 0;
        int removed = 0;
        IEnumerable<string> entries;
        try
        {
            entries = Directory.EnumerateFileSystemEntries(dir, prefix + "*").ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
        foreach (string entry in entries)
        {
            if (!TryParse(Path.GetFileName(entry).AsSpan(prefix.Length), out int pid, out string suffix) || IsRunning(pid)) continue;
            try
            {
                if (suffix == "old" && Directory.Exists(entry) && !Directory.Exists(fullPath) && !File.Exists(fullPath))
                    Directory.Move(entry, fullPath);
                else if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return removed;
    }

    /// <summary>The same for every target in <paramref name="directory"/> (e.g. a training run's output, before it resumes).</summary>
    public static int RemoveStaleTemporariesIn(string directory)
    {
        if (!Directory.Exists(directory)) return 0;
        var targets = new HashSet<string>(StringComparer.Ordinal);
        foreach (string entry in Directory.EnumerateFileSystemEntries(directory, ".*"))
        {
            // .NAME.PID.GUID.SUFFIX: NAME may itself hold dots, so take PID.GUID.SUFFIX from the end.
            string name = Path.GetFileName(entry);
            int suffixDot = name.LastIndexOf('.');
            int guidDot = suffixDot > 0 ? name.LastIndexOf('.', suffixDot - 1) : -1;
            int pidDot = guidDot > 0 ? name.LastIndexOf('.', guidDot - 1) : -1;
            if (pidDot > 1) targets.Add(Path.Combine(Path.GetFullPath(directory), name[1..pidDot]));
        }
        return targets.Sum(RemoveStaleTemporaries);
    }

    /// <summary>Parses "PID.GUID.tmp" or "PID.GUID.old".</summary>
    static bool TryParse(ReadOnlySpan<char> rest, out int pid, out string suffix)
    {
        pid = 0;
        suffix = "";
        int dot = rest.IndexOf('.');
        if (dot <= 0 || !int.TryParse(rest[..dot], System.Globalization.NumberStyles.None, null, out pid)) return false;
        rest = rest[(dot + 1)..];
        if (rest.Length != 32 + 4 || rest[32] != '.' || !Guid.TryParseExact(rest[..32], "N", out _)) return false;
        suffix = rest[33..].ToString();
        return suffix is "tmp" or "old";
    }

    static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        if (OperatingSystem.IsLinux()) return Directory.Exists($"/proc/{pid}");
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}

/// <summary>
/// Writes a directory as a whole: the files go into <c>.NAME.PID.GUID.tmp</c> beside the target, each flushed,
/// then the temporary directory takes the target's place. On Linux the swap is one atomic
/// <c>renameat2(RENAME_EXCHANGE)</c>; elsewhere (or where the file system lacks it) the old directory is first
/// renamed to <c>.NAME.PID.GUID.old</c>, and a writer killed between the two renames leaves that complete old
/// version, which the next writer moves back (<see cref="AtomicFile.RemoveStaleTemporaries"/>). Readers never
/// see a half-written directory.
/// </summary>
public static class AtomicDirectory
{
    public static void Write(string directory, Action<string> writeInto)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        AtomicFile.RemoveStaleTemporaries(full);
        string temp = AtomicFile.TemporaryName(full, "tmp");
        try
        {
            Directory.CreateDirectory(temp);
            writeInto(temp);
            if (!Directory.Exists(full))
            {
                Directory.Move(temp, full);
                return;
            }
            if (!Exchange(temp, full))
            {
                string old = AtomicFile.TemporaryName(full, "old");
                Directory.Move(full, old);
                Directory.Move(temp, full);
                temp = old;
            }
            Directory.Delete(temp, recursive: true);   // after an exchange or two renames: the previous version
        }
        catch
        {
            try { if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            throw;
        }
    }

    const int AtFdCwd = -100;
    const uint RenameExchange = 2;

    [DllImport("libc", SetLastError = true, EntryPoint = "renameat2")]
    static extern int RenameAt2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    static bool Exchange(string a, string b)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return RenameAt2(AtFdCwd, a, AtFdCwd, b, RenameExchange) == 0;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }
}
