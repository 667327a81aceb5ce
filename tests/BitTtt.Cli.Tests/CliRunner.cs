using System.Diagnostics;

namespace BitTtt.Cli.Tests;

/// <summary>Runs the real <c>bit-llama</c> executable (built beside the tests) in a child process.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    public static Result Run(params string[] args) => RunIn(null, args);

    public static Result RunIn(string? workingDirectory, params string[] args) => RunWith([], args, workingDirectory);

    /// <summary>Runs with these environment variables set (a null value removes the variable).</summary>
    public static Result RunWith(Dictionary<string, string?> environment, string[] args, string? workingDirectory = null)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "bit-llama.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (workingDirectory != null) psi.WorkingDirectory = workingDirectory;
        foreach (var (name, value) in environment)
            if (value is null) psi.Environment.Remove(name);
            else psi.Environment[name] = value;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"bit-llama {string.Join(' ', args)} did not finish in 5 minutes");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
