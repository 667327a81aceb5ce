using System.Text.RegularExpressions;

namespace BitTtt.Extensions.AI.Tests;

[TestClass]
public sealed class DocSnippetTests
{
    static string Squash(string code) => Regex.Replace(code, @"\s+", " ").Trim();

    [TestMethod]
    public void EveryCSharpBlockOfAppsMdIsCompiledInDocSnippets()
    {
        string doc = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "docs", "apps.md"));
        string compiled = Squash(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "docs", "DocSnippets.cs.txt")));
        var blocks = Regex.Matches(doc, "```csharp\n(.*?)```", RegexOptions.Singleline).Select(m => m.Groups[1].Value).ToList();
        Assert.IsGreaterThanOrEqualTo(6, blocks.Count, "docs/apps.md lost its examples");
        foreach (var block in blocks)
            Assert.Contains(Squash(block), compiled, $"this block of docs/apps.md is not in DocSnippets.cs:\n{block}");
    }
}
