using System.Text.RegularExpressions;

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

    /// <summary>The commands README and docs describe; a new one belongs here and in README.</summary>
    static readonly string[] Commands = ["tokenizer", "train", "generate", "chat", "eval", "bench", "inspect", "logits", "export"];

    /// <summary>Name → description of each line under "Commands:" of a help text.</summary>
    static Dictionary<string, string> ListedCommands(string help)
    {
        var lines = help.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        int start = lines.IndexOf("Commands:");
        Assert.IsGreaterThanOrEqualTo(0, start, help);
        return lines.Skip(start + 1).TakeWhile(l => l.StartsWith("  ", StringComparison.Ordinal))
            .Select(l => Regex.Match(l, @"^  (\S+)(?: <[^>]+>)?\s{2,}(\S.*)$"))
            .ToDictionary(m => m.Success ? m.Groups[1].Value : throw new AssertFailedException($"not a command line in: {help}"), m => m.Groups[2].Value);
    }

    [TestMethod]
    public void HelpListsEverySubcommandWithADescription()
    {
        var r = CliRunner.Run("--help");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.StartsWith(r.StdOut.TrimStart(), "Description:");
        var listed = ListedCommands(r.StdOut);
        CollectionAssert.AreEquivalent(Commands, listed.Keys.ToArray(), r.StdOut);
        foreach (var (name, description) in listed) Assert.IsGreaterThan(10, description.Length, $"{name}: '{description}'");
    }

    [TestMethod]
    public void TokenizerHelpListsTrainEncodeAndDecode()
    {
        var r = CliRunner.Run("tokenizer", "--help");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        CollectionAssert.AreEquivalent(new[] { "train", "encode", "decode" }, ListedCommands(r.StdOut).Keys.ToArray(), r.StdOut);
    }

    [TestMethod]
    [DataRow("tokenizer")]
    [DataRow("train")]
    [DataRow("generate")]
    [DataRow("chat")]
    [DataRow("eval")]
    [DataRow("bench")]
    [DataRow("inspect")]
    [DataRow("logits")]
    [DataRow("export")]
    public void EachSubcommandHasItsOwnHelp(string command)
    {
        CollectionAssert.Contains(Commands, command);
        var r = CliRunner.Run(command, "--help");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdOut, $"Usage:{Environment.NewLine}  bit-llama {command}");
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
    static string RepositoryVersion() =>
        System.Xml.Linq.XDocument.Load(Path.Combine(RepositoryRoot.Path, "Directory.Build.props")).Descendants("Version").Single().Value;

    /// <summary>Every package dotnet pack writes from src/ (the projects not marked IsPackable false) is named in CHANGELOG.md.</summary>
    [TestMethod]
    public void ChangelogNamesEveryPackage()
    {
        string root = RepositoryRoot.Path;
        string changelog = File.ReadAllText(Path.Combine(root, "CHANGELOG.md"));
        var packages = Directory.EnumerateFiles(Path.Combine(root, "src"), "*.csproj", SearchOption.AllDirectories)
            .Select(path => (Path: path, Project: System.Xml.Linq.XDocument.Load(path)))
            .Where(p => !p.Project.Descendants("IsPackable").Any(e => e.Value == "false"))
            .Select(p => p.Project.Descendants("PackageId").SingleOrDefault()?.Value ?? Path.GetFileNameWithoutExtension(p.Path))
            .ToList();
        Assert.IsGreaterThanOrEqualTo(7, packages.Count, string.Join(", ", packages));
        foreach (string id in packages) StringAssert.Contains(changelog, $"`{id}`", $"CHANGELOG.md does not name the package {id}");
    }
}
