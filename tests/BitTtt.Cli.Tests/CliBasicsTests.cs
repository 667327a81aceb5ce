namespace BitTtt.Cli.Tests;

[TestClass]
public sealed class CliBasicsTests
{
    [TestMethod]
    public void UnknownCommandFailsWithNonZeroExit()
    {
        var r = CliRunner.Run("no-such-command");
        Assert.AreNotEqual(0, r.ExitCode);
    }

    [TestMethod]
    public void HelpListsTheTool()
    {
        var r = CliRunner.Run("--help");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdOut, "bit-llama");
    }

    [TestMethod]
    public void VersionPrintsThePackageVersionOfDirectoryBuildProps()
    {
        string expected = RepositoryVersion();
        var r = CliRunner.Run("--version");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        string printed = r.StdOut.Trim();
        Assert.IsTrue(printed == expected || printed.StartsWith(expected + "+", StringComparison.Ordinal),
            $"bit-llama --version printed '{printed}'; Directory.Build.props says {expected} (SourceLink may add +commit)");
    }

    /// <summary>The one place the version is set: the repository's Directory.Build.props.</summary>
    static string RepositoryVersion()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var props = Path.Combine(dir.FullName, "Directory.Build.props");
            if (!File.Exists(props)) continue;
            var version = System.Xml.Linq.XDocument.Load(props).Descendants("Version").Select(e => e.Value).FirstOrDefault();
            if (version != null) return version;
        }
        throw new AssertFailedException($"no Directory.Build.props with a <Version> above {AppContext.BaseDirectory}");
    }
}
