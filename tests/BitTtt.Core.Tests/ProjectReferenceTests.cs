using System.Text.RegularExpressions;
using System.Xml.Linq;
using BitTtt.Tests.Shared;

namespace BitTtt.Core.Tests;

/// <summary>
/// The layering of docs/architecture.md ("Which project may reference which"), checked against the real project files:
/// every reference of a project under src/ is one the table allows (so always to a lower layer), samples reference
/// only src/ projects, benchmarks only src/ projects and samples. A new sideways or backward edge fails, naming it.
/// </summary>
[TestClass]
public sealed class ProjectReferenceTests
{
    sealed record Rule(int Layer, HashSet<string> MayReference);

    /// <summary>The table's rows: | `Project` | layer | `Allowed`, `Allowed` |.</summary>
    static Dictionary<string, Rule> Table()
    {
        string doc = File.ReadAllText(Path.Combine(RepositoryRoot.Path, "docs", "architecture.md"));
        var rows = Regex.Matches(doc, @"^\| `(?<project>BitTtt[\w.]*)` \| (?<layer>\d+) \| (?<refs>[^|\n]*)\|\s*$", RegexOptions.Multiline);
        var table = rows.ToDictionary(
            m => m.Groups["project"].Value,
            m => new Rule(int.Parse(m.Groups["layer"].Value, System.Globalization.CultureInfo.InvariantCulture),
                Regex.Matches(m.Groups["refs"].Value, @"`(BitTtt[\w.]*)`").Select(r => r.Groups[1].Value).ToHashSet()));
        Assert.IsGreaterThanOrEqualTo(8, table.Count, "docs/architecture.md lost its table of which project may reference which");
        return table;
    }

    /// <summary>Every project (or file-based app) under <paramref name="folder"/> and the project files it references, as repository-relative paths.</summary>
    static IEnumerable<(string Project, string Reference)> Edges(string folder)
    {
        string root = RepositoryRoot.Path;
        foreach (string csproj in Directory.EnumerateFiles(Path.Combine(root, folder), "*.csproj", SearchOption.AllDirectories))
            foreach (var include in XDocument.Load(csproj).Descendants("ProjectReference").Select(e => (string?)e.Attribute("Include")))
                yield return (Relative(csproj), Relative(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(csproj)!, include!.Replace('\\', '/')))));
        foreach (string app in Directory.EnumerateFiles(Path.Combine(root, folder), "*.cs", SearchOption.AllDirectories))
            foreach (Match m in Regex.Matches(File.ReadAllText(app), @"^#:project\s+(\S+)", RegexOptions.Multiline))
                yield return (Relative(app), Relative(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(app)!, m.Groups[1].Value))));
    }

    static string Relative(string path) => Path.GetRelativePath(RepositoryRoot.Path, path).Replace('\\', '/');

    static string NameOf(string projectPath) => Path.GetFileNameWithoutExtension(projectPath);

    [TestMethod]
    public void EverySourceProjectReferencesOnlyWhatTheTableAllows()
    {
        var table = Table();
        var problems = new List<string>();
        foreach (string csproj in Directory.EnumerateFiles(Path.Combine(RepositoryRoot.Path, "src"), "*.csproj", SearchOption.AllDirectories))
            if (!table.ContainsKey(NameOf(csproj)))
                problems.Add($"{Relative(csproj)} is not in docs/architecture.md's table: give it a layer and what it may reference");
        foreach (var (project, reference) in Edges("src"))
        {
            string from = NameOf(project), to = NameOf(reference);
            if (!reference.StartsWith("src/", StringComparison.Ordinal))
                problems.Add($"{project} references {reference}: a library never references a sample, benchmark or test");
            else if (table.TryGetValue(from, out var rule) && !rule.MayReference.Contains(to))
            {
                string kind = table.TryGetValue(to, out var target)
                    ? target.Layer > rule.Layer ? "a backward edge" : target.Layer == rule.Layer ? "a sideways edge" : "an edge the table does not list"
                    : "an edge to a project the table does not know";
                string allowed = rule.MayReference.Count == 0 ? "nothing" : string.Join(", ", rule.MayReference.Order());
                problems.Add($"{project} references {to}: {kind} (layer {rule.Layer} -> {(target is null ? "?" : target.Layer)}); docs/architecture.md lets {from} reference {allowed}");
            }
        }
        Assert.IsEmpty(problems, string.Join(Environment.NewLine, problems));
    }

    [TestMethod]
    public void TheTableItselfOnlyPointsDown()
    {
        var table = Table();
        var problems = table.SelectMany(row => row.Value.MayReference
            .Where(to => !table.TryGetValue(to, out var target) || target.Layer >= row.Value.Layer)
            .Select(to => $"docs/architecture.md lets {row.Key} (layer {row.Value.Layer}) reference {to} " +
                          $"({(table.TryGetValue(to, out var t) ? $"layer {t.Layer}" : "not in the table")}): references must point to a lower layer")).ToList();
        Assert.IsEmpty(problems, string.Join(Environment.NewLine, problems));
    }

    [TestMethod]
    public void NoSourceProjectCompilesAnotherProjectsFiles()
    {
        // A linked <Compile Include="../Other/File.cs"> is a reference the table cannot see: the file's types would
        // exist twice, and the edge would bypass the layering. Shared code lives in the lower project instead.
        var problems = new List<string>();
        foreach (string csproj in Directory.EnumerateFiles(Path.Combine(RepositoryRoot.Path, "src"), "*.csproj", SearchOption.AllDirectories))
        {
            string folder = Path.GetDirectoryName(csproj)! + Path.DirectorySeparatorChar;
            foreach (var include in XDocument.Load(csproj).Descendants("Compile").Select(e => (string?)e.Attribute("Include")).OfType<string>())
            {
                string full = Path.GetFullPath(Path.Combine(folder, include.Replace('\\', '/')));
                if (!full.StartsWith(folder, StringComparison.Ordinal))
                    problems.Add($"{Relative(csproj)} compiles {Relative(full)}: move the file to a project both may reference");
            }
        }
        Assert.IsEmpty(problems, string.Join(Environment.NewLine, problems));
    }

    [TestMethod]
    public void OnlyTheOrleansProjectReferencesOrleans()
    {
        var problems = new List<string>();
        foreach (string csproj in Directory.EnumerateFiles(Path.Combine(RepositoryRoot.Path, "src"), "*.csproj", SearchOption.AllDirectories))
            foreach (var package in XDocument.Load(csproj).Descendants("PackageReference").Select(e => (string?)e.Attribute("Include") ?? ""))
                if (package.StartsWith("Microsoft.Orleans", StringComparison.OrdinalIgnoreCase) && NameOf(csproj) != "BitTtt.Orleans")
                    problems.Add($"{Relative(csproj)} references {package}: only BitTtt.Orleans brings Orleans (docs/architecture.md)");
        Assert.IsEmpty(problems, string.Join(Environment.NewLine, problems));
    }

    [TestMethod]
    public void SamplesReferenceLibrariesAndBenchmarksReferenceLibrariesOrSamples()
    {
        var problems = new List<string>();
        foreach (var (project, reference) in Edges("samples"))
            if (!reference.StartsWith("src/", StringComparison.Ordinal))
                problems.Add($"{project} references {reference}: a sample references only projects under src/");
        foreach (var (project, reference) in Edges("benchmarks"))
            if (!reference.StartsWith("src/", StringComparison.Ordinal) && !reference.StartsWith("samples/", StringComparison.Ordinal))
                problems.Add($"{project} references {reference}: a benchmark references only projects under src/ and the samples it measures");
        Assert.IsEmpty(problems, string.Join(Environment.NewLine, problems));
        Assert.IsNotEmpty(Edges("samples").ToList(), "no sample references found: the scan is broken");
    }
}
