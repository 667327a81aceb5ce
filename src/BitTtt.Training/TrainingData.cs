using BitTtt.Evaluation;
using BitTtt.Tokenization;

namespace BitTtt.Training;

/// <summary>
/// The data half of a training run, before its first step: the texts, the tokenizer (trained on them, given, or a
/// resumed run's), <c>tokens.bin</c> and <c>val.bin</c>, and the n-gram baselines. <c>bit-llama train</c> runs it, and
/// so does the native library's <c>bitttt_corpus_prepare</c> for trainers outside .NET (python3 -m bitttt.train),
/// which compiles this file in: it uses BitTtt.Core only, never TorchSharp. Its messages name the flags of those
/// two commands (--vocab-size, --tokenizer), which spell them alike.
/// </summary>
public static class TrainingData
{
    public const string TokenizerFileName = "tokenizer.json", TrainFileName = "tokens.bin", ValidationFileName = "val.bin";

    /// <summary>
    /// Training tokens the n-gram baselines count at most (about 1 GB of dictionaries at this size); a longer
    /// corpus is counted from its start.
    /// </summary>
    public const int MaxBaselineTrainTokens = 50_000_000;

    /// <summary>What <see cref="Prepare"/> did and found.</summary>
    public sealed record Prepared(BitLlamaTokenizer Tokenizer, bool TokenizerTrained, bool Tokenized, long TrainTokens, long ValidationTokens);

    /// <summary>
    /// Writes <paramref name="outputDirectory"/>'s tokenizer.json, tokens.bin and val.bin: a resumed run
    /// (<paramref name="resume"/>) keeps those it has; else the given tokenizer (a file or "gpt2") or a byte-level BPE of
    /// <paramref name="vocabSize"/> ids (null: <see cref="BpeTrainerOptions.DefaultVocabSize"/>) trained on the texts,
    /// then the texts encoded, the last <see cref="TrainingDefaults.ValidationFraction"/> held out. Progress lines go to
    /// <paramref name="log"/>. Every file is written atomically.
    /// </summary>
    public static Prepared Prepare(IEnumerable<string> data, string? tokenizerPath, int? vocabSize, string outputDirectory, bool resume,
        Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        log ??= _ => { };
        string trainPath = Path.Combine(outputDirectory, TrainFileName), validationPath = Path.Combine(outputDirectory, ValidationFileName);
        bool reuseTokens = resume && File.Exists(trainPath) && File.Exists(validationPath);
        // The texts are checked (found, regular, not empty) before a tokenizer is trained on them; a resumed run
        // that kept its token files does not read them again.
        IReadOnlyList<string> texts = reuseTokens && File.Exists(Path.Combine(outputDirectory, TokenizerFileName)) ? [] : TextFiles(data);
        var (tok, trained) = PrepareTokenizer(texts, tokenizerPath, vocabSize, outputDirectory, resume, log, cancellationToken);
        if (!reuseTokens)
        {
            log($"tokenizing {Describe(texts)} ...");
            var (trainCount, validationCount) = TokenCorpus.Encode(texts, tok, trainPath, validationPath, TrainingDefaults.ValidationFraction, cancellationToken);
            log($"{trainCount:N0} training tokens, {validationCount:N0} validation tokens");
        }
        using var train = TokenFile.Open(trainPath);
        using var validation = TokenFile.Open(validationPath);
        return new Prepared(tok, trained, !reuseTokens, train.Count, validation.Count);
    }

    /// <summary>The --data files and directories as a list of text files, each checked (found, regular, not empty, within the size limit).</summary>
    public static IReadOnlyList<string> TextFiles(IEnumerable<string> data)
    {
        var files = TrainingText.Files(data);
        foreach (string file in files) TrainingText.Length(file);
        return files;
    }

    /// <summary>A tokenizer.json file, or "gpt2" (when no file has that name) for the GPT-2 tokenizer.</summary>
    public static BitLlamaTokenizer LoadTokenizer(string value) =>
        value.Equals("gpt2", StringComparison.OrdinalIgnoreCase) && !File.Exists(value)
            ? BitLlamaTokenizer.Gpt2()
            : BitLlamaTokenizer.Load(value);

    /// <summary>
    /// The unigram (add-one), KN-bigram and KN-trigram cross-entropies (nats/token) of the validation tokens
    /// after counting the training tokens: the figures a language model must beat (see <see cref="NGramBaselines"/>).
    /// </summary>
    public static BaselineLosses MeasureBaselines(TokenFile train, TokenFile validation, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        return NGramBaselines.Measure(train.ReadAll(MaxBaselineTrainTokens), validation.ReadAll(), vocabSize);
    }

    static string Describe(IReadOnlyList<string> files) => files.Count == 1 ? files[0] : $"{files.Count} files ({files[0]}, ...)";

    // vocabSize is null when the caller gave none (BpeTrainerOptions.DefaultVocabSize then applies to a tokenizer trained here).
    static (BitLlamaTokenizer Tokenizer, bool Trained) PrepareTokenizer(IReadOnlyList<string> texts, string? tokenizerPath, int? vocabSize,
        string outputDirectory, bool resume, Action<string> log, CancellationToken ct)
    {
        string saved = Path.Combine(outputDirectory, TokenizerFileName);
        if (resume && File.Exists(saved)) return (BitLlamaTokenizer.Load(saved), false);
        BitLlamaTokenizer tok;
        if (tokenizerPath is not null)
        {
            tok = LoadTokenizer(tokenizerPath);
            // The model's vocab_size comes from the tokenizer; a different --vocab-size would be silently ignored.
            if (vocabSize is { } requested && requested != tok.VocabSize)
                throw new ArgumentException(
                    $"--vocab-size {requested} does not match {tokenizerPath}, which has {tok.VocabSize} tokens (drop --vocab-size, or omit --tokenizer to train a new one)");
        }
        else
        {
            int size = vocabSize ?? BpeTrainerOptions.DefaultVocabSize;
            log($"training a {size}-token BPE tokenizer on {Describe(texts)} ...");
            tok = BitLlamaTokenizer.FromJson(BpeTrainer.TrainFromFiles(texts, new BpeTrainerOptions { VocabSize = size }, ct), saved);
            // BPE stops when no pair is frequent enough: the model then has the smaller vocabulary, and says so.
            if (tok.VocabSize < size)
                log($"the text gives only {tok.VocabSize} tokens, not {size} ({(vocabSize is null ? "the default " : "")}--vocab-size): " +
                    $"no further pair occurs {BpeTrainerOptions.DefaultMinFrequency} times or more; the model's vocab_size is {tok.VocabSize}");
        }
        AtomicFile.WriteAllText(saved, tok.ToJson());
        return (tok, tokenizerPath is null);
    }
}
