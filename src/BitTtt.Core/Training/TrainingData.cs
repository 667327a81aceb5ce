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

    /// <summary>What <see cref="Prepare(Request, Action{string}?, CancellationToken)"/> did and found.</summary>
    public sealed record Prepared(BitLlamaTokenizer Tokenizer, bool TokenizerTrained, bool Tokenized, long TrainTokens, long ValidationTokens)
    {
        /// <summary>The template the conversations were encoded with; null for a text.</summary>
        public ChatFormat? Chat { get; init; }
        /// <summary>Conversations in the training and validation files (0 for a text).</summary>
        public int TrainConversations { get; init; }
        public int ValidationConversations { get; init; }
    }

    /// <summary>What the data files hold: decided by their content (<see cref="Auto"/>), or as the caller says.</summary>
    public enum Format { Auto, Text, Chat }

    /// <summary>The names of <see cref="Format"/> as <c>--format</c> takes them.</summary>
    public static string FormatName(Format format) => format switch { Format.Text => "text", Format.Chat => "chat", _ => "auto" };

    /// <summary><c>--format</c>'s value as a <see cref="Format"/>.</summary>
    public static Format ParseFormat(string name) => name switch
    {
        "auto" => Format.Auto,
        "text" => Format.Text,
        "chat" => Format.Chat,
        _ => throw new ArgumentException($"--format must be 'auto', 'text' or 'chat', got '{name}'"),
    };

    /// <summary>What a run prepares from: the texts, the tokenizer's origin, the data format and the model it may start from.</summary>
    public sealed record Request(IReadOnlyList<string> Data, string OutputDirectory)
    {
        /// <summary>A tokenizer.json file or "gpt2"; null: trained on the data (or the <see cref="InitialModel"/>'s).</summary>
        public string? Tokenizer { get; init; }
        /// <summary>The size of a tokenizer trained here; null: <see cref="BpeTrainerOptions.DefaultVocabSize"/>.</summary>
        public int? VocabSize { get; init; }
        public bool Resume { get; init; }
        public Format DataFormat { get; init; }
        /// <summary>A .bitt file, model directory or checkpoint to fine-tune: its tokenizer is the run's (with the chat tokens added for conversations).</summary>
        public string? InitialModel { get; init; }
    }

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
        return Prepare(new Request([.. data], outputDirectory) { Tokenizer = tokenizerPath, VocabSize = vocabSize, Resume = resume, DataFormat = Format.Text },
            log, cancellationToken);
    }

    /// <summary>
    /// <see cref="Prepare(IEnumerable{string}, string?, int?, string, bool, Action{string}?, CancellationToken)"/> for texts or
    /// conversations. Conversations (<see cref="ChatData"/>; told apart by their content unless the request says) are
    /// encoded with the chat template (docs/model.md §6.3) into token files of examples, after the chat tokens are
    /// added to a tokenizer that lacks them. A tokenizer trained on conversations is trained on their messages' text.
    /// </summary>
    public static Prepared Prepare(Request request, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        log ??= _ => { };
        string outputDirectory = request.OutputDirectory;
        string trainPath = Path.Combine(outputDirectory, TrainFileName), validationPath = Path.Combine(outputDirectory, ValidationFileName);
        bool reuseTokens = request.Resume && File.Exists(trainPath) && File.Exists(validationPath);
        // The texts are checked (found, regular, not empty) before a tokenizer is trained on them; a resumed run
        // that kept its token files does not read them again.
        IReadOnlyList<string> files = reuseTokens && File.Exists(Path.Combine(outputDirectory, TokenizerFileName)) ? [] : DataFiles(request.Data, request.DataFormat);
        bool chat = reuseTokens ? HoldsExamples(trainPath) : IsChat(files, request.DataFormat);
        var start = request.InitialModel is { } initial ? InitialModelFiles(initial) : null;
        var (tok, trained) = PrepareTokenizer(files, chat, request, start, log, cancellationToken);
        var format = chat ? ChatTemplate(tok, start) : null;
        int trainConversations = 0, validationConversations = 0;
        if (!reuseTokens)
        {
            log($"tokenizing {Describe(files)}{(chat ? " as conversations" : "")} ...");
            if (format is not null)
            {
                var counts = ChatCorpus.Encode(files, format, trainPath, validationPath, TrainingDefaults.ValidationFraction, cancellationToken);
                (trainConversations, validationConversations) = (counts.TrainConversations, counts.ValidationConversations);
                log($"{counts.TrainConversations:N0} training conversations ({counts.TrainTokens:N0} tokens), {counts.ValidationConversations:N0} validation conversations ({counts.ValidationTokens:N0} tokens)");
            }
            else
            {
                var (trainCount, validationCount) = TokenCorpus.Encode(files, tok, trainPath, validationPath, TrainingDefaults.ValidationFraction, cancellationToken);
                log($"{trainCount:N0} training tokens, {validationCount:N0} validation tokens");
            }
        }
        using var train = TokenFile.Open(trainPath);
        using var validation = TokenFile.Open(validationPath);
        if (train.HasFlags != chat)
            throw new InvalidOperationException($"{trainPath} holds {(train.HasFlags ? "conversations" : "a text")}, not what this run trains on; start over with --force");
        if (chat) (trainConversations, validationConversations) = (train.ExampleStarts.Count, validation.ExampleStarts.Count);
        return new Prepared(tok, trained, !reuseTokens, train.Count, validation.Count)
        {
            Chat = format, TrainConversations = trainConversations, ValidationConversations = validationConversations,
        };
    }

    /// <summary>The template conversations are encoded with: the initial model's stored one, else the default tokens of <paramref name="tokenizer"/>.</summary>
    static ChatFormat ChatTemplate(BitLlamaTokenizer tokenizer, InitialFiles? start) =>
        start is not null && ChatFormat.FromConfig(start.Config, tokenizer, start.Source) is { } stored ? stored : ChatFormat.Default(tokenizer);

    /// <summary>The config and tokenizer of a model a run starts from (the weights are the trainer's to read).</summary>
    public sealed record InitialFiles(string Source, BitLlamaConfig Config, string TokenizerJson, string TokenizerSource);

    /// <summary>
    /// The config and tokenizer.json of a <c>.bitt</c> file, a model directory, or a training checkpoint (whose tokenizer
    /// is the <c>tokenizer.json</c> beside it, where a run writes it). Errors name the path and what is missing.
    /// </summary>
    public static InitialFiles InitialModelFiles(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (File.Exists(path) && !Formats.ModelPackage.IsBitt(path))
        {
            using var reader = Formats.SafeTensorsReader.Open(path);
            if (!reader.Metadata.TryGetValue("format", out var kind) || !kind.StartsWith("bitllama-checkpoint/", StringComparison.Ordinal)
                || !reader.Metadata.TryGetValue("config", out var configJson))
                throw BitLlamaFormatException.In(path, "neither a .bitt file nor a training checkpoint (its safetensors metadata has no 'format' bitllama-checkpoint with a 'config')");
            string tokenizerPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, TokenizerFileName);
            if (!File.Exists(tokenizerPath))
                throw new FileNotFoundException($"{path}: a checkpoint's tokenizer is the {TokenizerFileName} beside it, and {tokenizerPath} does not exist", tokenizerPath);
            return new InitialFiles(path, BitLlamaConfig.FromJson(configJson, path), File.ReadAllText(tokenizerPath), tokenizerPath);
        }
        using var package = Formats.ModelPackage.Open(path);
        if (package.TokenizerJson is null)
            throw BitLlamaFormatException.In(path, "the model has no tokenizer (expected tokenizer.json beside it, or a 'tokenizer' in the .bitt header)");
        return new InitialFiles(path, package.Config, package.TokenizerJson, package.TokenizerSource);
    }

    static bool HoldsExamples(string tokensPath)
    {
        using var tokens = TokenFile.Open(tokensPath);
        return tokens.HasFlags;
    }

    /// <summary>
    /// Whether the files hold conversations: as <paramref name="format"/> says, or, for <see cref="Format.Auto"/>, when
    /// every file does (<see cref="ChatData.IsChatFile"/>); texts and conversations mixed are an error naming both.
    /// </summary>
    public static bool IsChat(IReadOnlyList<string> files, Format format)
    {
        if (format != Format.Auto || files.Count == 0) return format == Format.Chat;
        var kinds = files.Select(ChatData.IsChatFile).ToList();
        if (kinds.All(k => k)) return true;
        if (kinds.All(k => !k)) return false;
        throw new ArgumentException($"--data: {files[kinds.IndexOf(true)]} holds conversations and {files[kinds.IndexOf(false)]} text; " +
            "train on one kind at a time (or say which with --format text|chat)");
    }

    /// <summary>The --data files: texts as <see cref="TextFiles"/> finds them (a directory gives its *.txt, or its *.jsonl for --format chat).</summary>
    public static IReadOnlyList<string> DataFiles(IReadOnlyList<string> data, Format format)
    {
        if (format != Format.Chat) return TextFiles(data);
        var files = new List<string>();
        foreach (string path in data)
        {
            if (!Directory.Exists(path)) { files.Add(path); continue; }
            var found = Directory.EnumerateFiles(path, "*.jsonl", new EnumerationOptions
            {
                RecurseSubdirectories = true, MatchCasing = MatchCasing.CaseInsensitive, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System,
            }).Order(StringComparer.Ordinal).ToList();
            if (found.Count == 0) throw new ArgumentException($"{path}: the directory holds no .jsonl file of conversations to train on");
            files.AddRange(found);
        }
        foreach (string file in files) TrainingText.Length(file);
        return files;
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

    // The request's VocabSize is null when the caller gave none (BpeTrainerOptions.DefaultVocabSize then applies to a
    // tokenizer trained here). Conversations need the chat tokens: a given or the initial model's tokenizer gets them added.
    static (BitLlamaTokenizer Tokenizer, bool Trained) PrepareTokenizer(IReadOnlyList<string> texts, bool chat, Request request, InitialFiles? start,
        Action<string> log, CancellationToken ct)
    {
        string? tokenizerPath = request.Tokenizer;
        int? vocabSize = request.VocabSize;
        string saved = Path.Combine(request.OutputDirectory, TokenizerFileName);
        if (request.Resume && File.Exists(saved)) return (BitLlamaTokenizer.Load(saved), false);
        BitLlamaTokenizer tok;
        if (start is not null)
        {
            if (tokenizerPath is not null || vocabSize is not null)
                throw new ArgumentException($"{(tokenizerPath is not null ? "--tokenizer" : "--vocab-size")}: a run from --init-from uses that model's tokenizer");
            tok = BitLlamaTokenizer.FromJson(start.TokenizerJson, start.TokenizerSource);
            if (chat) tok = WithChatTokens(tok, start.Source, log);
        }
        else if (tokenizerPath is not null)
        {
            tok = LoadTokenizer(tokenizerPath);
            // The model's vocab_size comes from the tokenizer; a different --vocab-size would be silently ignored.
            if (vocabSize is { } requested && requested != tok.VocabSize)
                throw new ArgumentException(
                    $"--vocab-size {requested} does not match {tokenizerPath}, which has {tok.VocabSize} tokens (drop --vocab-size, or omit --tokenizer to train a new one)");
            if (chat) tok = WithChatTokens(tok, tokenizerPath, log);
        }
        else
        {
            int size = vocabSize ?? BpeTrainerOptions.DefaultVocabSize;
            log($"training a {size}-token BPE tokenizer on {Describe(texts)} ...");
            var options = new BpeTrainerOptions { VocabSize = size };
            tok = BitLlamaTokenizer.FromJson(chat
                ? BpeTrainer.TrainFromTexts(ChatData.Texts(texts), options, ct)
                : BpeTrainer.TrainFromFiles(texts, options, ct), saved);
            // BPE stops when no pair is frequent enough: the model then has the smaller vocabulary, and says so.
            if (tok.VocabSize < size)
                log($"the text gives only {tok.VocabSize} tokens, not {size} ({(vocabSize is null ? "the default " : "")}--vocab-size): " +
                    $"no further pair occurs {BpeTrainerOptions.DefaultMinFrequency} times or more; the model's vocab_size is {tok.VocabSize}");
        }
        AtomicFile.WriteAllText(saved, tok.ToJson());
        return (tok, tokenizerPath is null && start is null);
    }

    static BitLlamaTokenizer WithChatTokens(BitLlamaTokenizer tokenizer, string source, Action<string> log)
    {
        var extended = tokenizer.WithSpecialTokens(ChatFormat.DefaultTokens);
        if (extended.VocabSize > tokenizer.VocabSize)
            log($"{source}'s tokenizer lacks the chat tokens: added {string.Join(" ", ChatFormat.DefaultTokens.Where(t => tokenizer.SpecialTokenId(t) is null))} " +
                $"as ids {tokenizer.VocabSize}..{extended.VocabSize - 1} (the model grows by as many rows, docs/model.md §6.5)");
        return extended;
    }
}
