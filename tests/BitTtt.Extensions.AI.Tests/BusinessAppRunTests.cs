using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BitTtt.Tests.Shared;

namespace BitTtt.Extensions.AI.Tests;

/// <summary>README's command for the web app, run as a user runs it: <c>dotnet run --project samples/BusinessApp -- --model moby.bitt</c>.</summary>
[TestClass]
public sealed class BusinessAppRunTests
{
    [TestMethod]
    public async Task DotnetRunFindsAModelPathRelativeToTheCallersDirectory()
    {
        string caller = TestModel.NewPath("caller");
        Directory.CreateDirectory(caller);
        File.Copy(TestModel.BittPath, Path.Combine(caller, "moby.bitt"));
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}") ? "Debug" : "Release";
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = caller, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "run", "--project", Path.Combine(RepositoryRoot.Path, "samples", "BusinessApp"), "-c", configuration, "--no-build",
                                  "--", "--model", "moby.bitt", "--urls", "http://127.0.0.1:0" })
            psi.ArgumentList.Add(a);
        using var app = Process.Start(psi)!;
        try
        {
            var stderr = app.StandardError.ReadToEndAsync();
            string? address = null;
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            while (address is null && await app.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
                address = Regex.Match(line, @"Now listening on: (http://127\.0\.0\.1:\d+)") is { Success: true } m ? m.Groups[1].Value : null;
            Assert.IsNotNull(address, $"the app did not start (exit code {(app.HasExited ? app.ExitCode : "none yet")}): {(app.HasExited ? await stderr : "")}");
            using var http = new HttpClient { BaseAddress = new Uri(address) };
            Assert.AreEqual("Healthy", (string)JsonNode.Parse(await http.GetStringAsync("/health"))!["status"]!);
            var ready = JsonNode.Parse(await http.GetStringAsync("/health/ready"))!;
            Assert.AreEqual("Healthy", (string)ready["status"]!);
            Assert.AreEqual("moby", (string)ready["checks"]!["model"]!["data"]!["model"]!);
        }
        finally
        {
            if (!app.HasExited) app.Kill(entireProcessTree: true);
            await app.WaitForExitAsync();
        }
    }
}
