using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using BitTtt.Evaluation;
using BitTtt.Tokenization;
using BitTtt.Training;

namespace BitTtt.Native;

/// <summary>
/// bitttt_corpus_prepare (bitttt.h): the data half of a training run for trainers outside .NET (python3 -m
/// bitttt.train). It does what <c>bit-llama train</c> does before its first step, with the same code: the
/// tokenizer (trained on the text with BpeTrainer, or loaded), tokens.bin and val.bin (TokenCorpus: the last 5%
/// of the text held out), and the n-gram baselines on that split. So a PyTorch run and a TorchSharp run of the
/// same text see the same token ids.
/// </summary>
public static unsafe class CorpusExports
{
    /// <summary>Training tokens the baselines count at most (BitLlamaTrainer.MaxBaselineTrainTokens).</summary>
    const int MaxBaselineTrainTokens = 50_000_000;

    [UnmanagedCallersOnly(EntryPoint = "bitttt_corpus_prepare", CallConvs = [typeof(CallConvCdecl)])]
    public static int Prepare(byte* requestJson, byte* buffer, nuint capacity, nuint* length)
    {
        try
        {
            Marshalling.CheckOut(length, "result length");
            string result = Prepare(Marshalling.Utf8Z(requestJson, "request_json"));
            Marshalling.CopyOut(result, buffer, capacity, length, "corpus_prepare result");
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    // Request: {"data": PATH, "output": DIR, "tokenizer": PATH | "gpt2" | null, "vocab_size": N | null,
    //           "reuse": bool, "validation_fraction": 0.05}
    //   reuse: keep OUTPUT/tokenizer.json, tokens.bin and val.bin when they exist (a resumed run).
    // Result: {"vocab_size": N, "tokenizer_trained": bool, "tokenized": bool, "train_tokens": N,
    //          "validation_tokens": N, "baselines": {"unigram": x, "bigram": x, "trigram": x} | null}
    static string Prepare(string requestJson)
    {
        using var request = JsonDocument.Parse(requestJson);
        var root = request.RootElement;
        string data = Required(root, "data"), output = Required(root, "output");
        string? tokenizerPath = Optional(root, "tokenizer");
        int? vocabSize = root.TryGetProperty("vocab_size", out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;
        bool reuse = root.TryGetProperty("reuse", out var r) && r.ValueKind == JsonValueKind.True;
        double fraction = root.TryGetProperty("validation_fraction", out var f) && f.ValueKind == JsonValueKind.Number ? f.GetDouble() : TrainingDefaults.ValidationFraction;

        try { Directory.CreateDirectory(output); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{output}: cannot create the output directory ({e.Message})", e);
        }
        AtomicFile.RemoveStaleTemporariesIn(output);
        var (tok, trained) = PrepareTokenizer(data, tokenizerPath, vocabSize, output, reuse);
        string trainPath = Path.Combine(output, "tokens.bin"), validationPath = Path.Combine(output, "val.bin");
        bool tokenize = !(reuse && File.Exists(trainPath) && File.Exists(validationPath));
        if (tokenize) TokenCorpus.Encode(data, tok, trainPath, validationPath, fraction);
        using var train = TokenFile.Open(trainPath);
        using var validation = TokenFile.Open(validationPath);
        var baselines = validation.Count >= 2
            ? NGramBaselines.Measure(train.ReadAll(MaxBaselineTrainTokens), validation.ReadAll(), tok.VocabSize)
            : null;

        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteNumber("vocab_size", tok.VocabSize);
            w.WriteBoolean("tokenizer_trained", trained);
            w.WriteBoolean("tokenized", tokenize);
            w.WriteNumber("train_tokens", train.Count);
            w.WriteNumber("validation_tokens", validation.Count);
            if (baselines is null) w.WriteNull("baselines");
            else
            {
                w.WriteStartObject("baselines");
                w.WriteNumber("unigram", baselines.Unigram);
                w.WriteNumber("bigram", baselines.Bigram);
                w.WriteNumber("trigram", baselines.Trigram);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    // As bit-llama train: a given tokenizer (a file, or "gpt2"), else the one a resumed run saved, else a new
    // byte-level BPE trained on the text; saved as OUTPUT/tokenizer.json.
    static (BitLlamaTokenizer Tokenizer, bool Trained) PrepareTokenizer(string data, string? tokenizerPath, int? vocabSize, string output, bool reuse)
    {
        string saved = Path.Combine(output, "tokenizer.json");
        if (reuse && File.Exists(saved)) return (BitLlamaTokenizer.Load(saved), false);
        if (!File.Exists(data)) throw new FileNotFoundException($"{data}: training text not found", data);
        BitLlamaTokenizer tok;
        bool trained = tokenizerPath is null;
        if (tokenizerPath is not null)
        {
            tok = tokenizerPath.Equals("gpt2", StringComparison.OrdinalIgnoreCase) && !File.Exists(tokenizerPath)
                ? BitLlamaTokenizer.Gpt2() : BitLlamaTokenizer.Load(tokenizerPath);
            if (vocabSize is { } requested && requested != tok.VocabSize)
                throw new ArgumentException(
                    $"--vocab-size {requested} does not match {tokenizerPath}, which has {tok.VocabSize} tokens (drop --vocab-size, or omit --tokenizer to train a new one)");
        }
        else
        {
            tok = BitLlamaTokenizer.FromJson(BpeTrainer.TrainFromFiles([data], new BpeTrainerOptions { VocabSize = vocabSize ?? 4096 }), saved);
        }
        AtomicFile.WriteAllText(saved, tok.ToJson());
        return (tok, trained);
    }

    static string Required(JsonElement root, string name) =>
        Optional(root, name) ?? throw new ArgumentException($"request_json: '{name}' (a string) is required");

    static string? Optional(JsonElement root, string name) =>
        root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
}
