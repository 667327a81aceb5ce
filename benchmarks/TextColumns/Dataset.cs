using System.Text.RegularExpressions;

namespace BitTtt.Benchmarks.TextColumns;

/// <summary>A paragraph with its label (the part of the book) for the classifiers.</summary>
public sealed class Paragraph
{
    public string Text { get; set; } = "";
    public string Label { get; set; } = "";
}

/// <summary>A text with whether it is in-domain, and a score column for ML.NET's binary evaluator.</summary>
public sealed class Scored
{
    public bool Label { get; set; }
    public float Score { get; set; }
    /// <summary>Required by ML.NET's binary evaluator; the AUC read here depends on the scores alone.</summary>
    public bool PredictedLabel { get; set; }
}

/// <summary>
/// The labelled data, all from text in this repository. In-domain: the paragraphs of data/moby-dick.txt (one per line),
/// labelled by the part of the book their chapter is in (chapters 1–34, 35–68, 69–102, 103–135 and the epilogue:
/// parts I–IV), every 5th paragraph held out for testing; the language model trains on the other paragraphs only.
/// Out of domain: (a) prose paragraphs of this repository's Markdown (docs/*.md but mlnet.md and benchmarks.md, README.md), (b) the held-out book
/// paragraphs with their words shuffled (the same words, so a bag of words cannot tell them apart).
/// </summary>
public sealed record Dataset(List<Paragraph> Train, List<Paragraph> Test, List<string> Docs, List<string> Shuffled)
{
    const int MinWords = 20;

    public static Dataset Load(string root, int seed)
    {
        var train = new List<Paragraph>();
        var test = new List<Paragraph>();
        int chapter = 0, index = 0;
        foreach (string line in File.ReadLines(Path.Combine(root, "data", "moby-dick.txt")))
        {
            if (Regex.Match(line, @"^CHAPTER (\d+)\.") is { Success: true } m) { chapter = int.Parse(m.Groups[1].Value); continue; }
            if (line.StartsWith("Epilogue", StringComparison.Ordinal)) { chapter = 135; continue; }
            if (chapter == 0 || Words(line) < MinWords) continue;   // the etymology and extracts before chapter 1 are lists
            var p = new Paragraph { Text = line, Label = Part(chapter) };
            (index++ % 5 == 4 ? test : train).Add(p);
        }
        // Not mlnet.md and benchmarks.md: they hold this benchmark's figures, which would then change its own input.
        var docs = Directory.EnumerateFiles(Path.Combine(root, "docs"), "*.md").Append(Path.Combine(root, "README.md"))
            .Where(f => Path.GetFileName(f) is not ("mlnet.md" or "benchmarks.md"))
            .Order(StringComparer.Ordinal)
            .SelectMany(f => File.ReadAllText(f).Replace("\r\n", "\n").Split("\n\n"))
            .Where(IsProse)
            .Select(block => string.Join(' ', block.Split('\n', StringSplitOptions.TrimEntries)))
            .ToList();
        var rng = new Random(seed);
        var shuffled = test.Select(p => string.Join(' ', p.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries).OrderBy(_ => rng.Next()))).ToList();
        return new Dataset(train, test, docs, shuffled);
    }

    static string Part(int chapter) => chapter switch { <= 34 => "I", <= 68 => "II", <= 102 => "III", _ => "IV" };

    static int Words(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;

    /// <summary>A Markdown paragraph of running text: no heading, table, list, code block or indented code.</summary>
    static bool IsProse(string block) =>
        block.Length > 0 && char.IsLetter(block[0]) && Words(block.Replace('\n', ' ')) >= MinWords
        && !block.Contains('|') && !block.Contains("```", StringComparison.Ordinal) && !block.Contains("\n ", StringComparison.Ordinal);
}
