using System.Text;

namespace BitTtt.Tokenization;

/// <summary>
/// Trains a byte-level BPE tokenizer (ids: <c>&lt;unk&gt;</c>=0, <c>&lt;s&gt;</c>=1, <c>&lt;/s&gt;</c>=2, the 256
/// byte symbols, the merges in order, then the reserved chat tokens, docs/model.md §6.1) and returns it as Hugging
/// Face <c>tokenizer.json</c> text.
/// Files are streamed in chunks and pre-tokenized with the GPT-2 split pattern; words are counted once,
/// then merges are learned incrementally (see <see cref="BpeMergeLearner"/>).
/// </summary>
public static class BpeTrainer
{
    public static string TrainFromFiles(IEnumerable<string> paths, BpeTrainerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var files = paths.ToList();
        if (files.Count == 0) throw new ArgumentException("no corpus files given", nameof(paths));
        var counter = new CorpusWordCounter();
        foreach (string path in files)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"corpus file '{path}' does not exist", path);
            using var reader = TrainingText.Open(path);
            counter.AddReader(reader, cancellationToken);
        }
        if (counter.Counts.Count == 0)
        {
            string names = string.Join(", ", files.Select(f => $"'{f}'"));
            throw new ArgumentException($"corpus {names} contains no text to train on ({counter.Characters} characters)", nameof(paths));
        }
        return Train(counter.Counts, options, cancellationToken);
    }

    public static string TrainFromTexts(IEnumerable<string> texts, BpeTrainerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var counter = new CorpusWordCounter();
        foreach (string text in texts)
        {
            cancellationToken.ThrowIfCancellationRequested();
            counter.AddText(text ?? throw new ArgumentException("texts contains a null entry", nameof(texts)));
        }
        if (counter.Counts.Count == 0) throw new ArgumentException("corpus contains no text to train on (all texts are empty)", nameof(texts));
        return Train(counter.Counts, options, cancellationToken);
    }

    private static string Train(IReadOnlyDictionary<string, long> wordCounts, BpeTrainerOptions options, CancellationToken cancellationToken)
    {
        BpeMerges learned = BpeMergeLearner.Learn(wordCounts, options, cancellationToken);
        return TokenizerJson.Write(ByteLevelBpeModel.FromMerges(learned, options.ReservedTokens));
    }
}
