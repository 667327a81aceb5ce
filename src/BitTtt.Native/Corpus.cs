using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using BitTtt.Tokenization;
using BitTtt.Training;

namespace BitTtt.Native;

/// <summary>
/// bitttt_corpus_prepare (bitttt.h): the data half of a training run for trainers outside .NET (python3 -m
/// bitttt.train). It does what <c>bit-llama train</c> does before its first step, with the same code
/// (<see cref="TrainingData"/>): the tokenizer (trained on the texts, or loaded), tokens.bin and val.bin (the last 5%
/// of the text held out), and the n-gram baselines on that split. So a PyTorch run and a TorchSharp run of the
/// same text see the same token ids.
/// </summary>
public static unsafe class CorpusExports
{
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

    // Request: {"data": PATH or [PATH, ...] (files, or directories of *.txt), "output": DIR, "tokenizer": PATH | "gpt2" | null,
    //           "vocab_size": N | null, "reuse": bool, "log_prefix": "name: " | null,
    //           "format": "auto" | "text" | "chat" | null, "init_from": PATH | null}
    //   reuse: keep OUTPUT/tokenizer.json, tokens.bin and val.bin when they exist (a resumed run).
    //   log_prefix: progress lines go to standard error with this prefix; without it, nothing is printed.
    //   format: what the data holds (null: auto, told by the content); init_from: the model a fine-tuning run starts from
    //   (its tokenizer is the run's, with the chat tokens added for conversations).
    // Result: {"vocab_size": N, "tokenizer_trained": bool, "tokenized": bool, "train_tokens": N,
    //          "validation_tokens": N, "baselines": {"unigram": x, "bigram": x, "trigram": x} | null,
    //          "chat": {"system", "user", "assistant", "end_of_turn"} | null (the template conversations were encoded with),
    //          "train_conversations": N, "validation_conversations": N}
    //   Conversations are written as token files of examples (version 2: ids, then a flag byte per token), and have no
    //   n-gram baselines (their loss counts the assistant replies only).
    static string Prepare(string requestJson)
    {
        using var request = JsonDocument.Parse(requestJson);
        var root = request.RootElement;
        string output = Required(root, "output");
        string[] data = root.TryGetProperty("data", out var d) && d.ValueKind == JsonValueKind.Array
            ? d.EnumerateArray().Select(e => e.GetString() ?? throw new ArgumentException("request_json: 'data' holds a null")).ToArray()
            : [Required(root, "data")];
        string? tokenizerPath = Optional(root, "tokenizer"), logPrefix = Optional(root, "log_prefix");
        int? vocabSize = root.TryGetProperty("vocab_size", out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;
        bool reuse = root.TryGetProperty("reuse", out var r) && r.ValueKind == JsonValueKind.True;
        // Options are named as python3 -m bitttt.train's flags, which are bit-llama train's.
        try
        {
            if (tokenizerPath is null) new BpeTrainerOptions { VocabSize = vocabSize ?? BpeTrainerOptions.DefaultVocabSize }.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException(OptionMessage.Format(e, name => name == nameof(BpeTrainerOptions.VocabSize) ? "--vocab-size" : name), e);
        }
        try { Directory.CreateDirectory(output); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{output}: cannot create the output directory ({e.Message})", e);
        }
        AtomicFile.RemoveStaleTemporariesIn(output);
        Action<string>? log = logPrefix is null ? null : line => Console.Error.WriteLine(logPrefix + line);
        var format = Optional(root, "format") is { } f ? TrainingData.ParseFormat(f) : TrainingData.Format.Auto;
        var prepared = TrainingData.Prepare(new TrainingData.Request(data, output)
        {
            Tokenizer = tokenizerPath, VocabSize = vocabSize, Resume = reuse, DataFormat = format, InitialModel = Optional(root, "init_from"),
        }, log);
        using var train = TokenFile.Open(Path.Combine(output, TrainingData.TrainFileName));
        using var validation = TokenFile.Open(Path.Combine(output, TrainingData.ValidationFileName));
        var baselines = prepared.Chat is null && validation.Count >= 2 ? TrainingData.MeasureBaselines(train, validation, prepared.Tokenizer.VocabSize) : null;

        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteNumber("vocab_size", prepared.Tokenizer.VocabSize);
            w.WriteBoolean("tokenizer_trained", prepared.TokenizerTrained);
            w.WriteBoolean("tokenized", prepared.Tokenized);
            w.WriteNumber("train_tokens", prepared.TrainTokens);
            w.WriteNumber("validation_tokens", prepared.ValidationTokens);
            if (baselines is null) w.WriteNull("baselines");
            else
            {
                w.WriteStartObject("baselines");
                w.WriteNumber("unigram", baselines.Unigram);
                w.WriteNumber("bigram", baselines.Bigram);
                w.WriteNumber("trigram", baselines.Trigram);
                w.WriteEndObject();
            }
            if (prepared.Chat is not { } chat) w.WriteNull("chat");
            else
            {
                w.WriteStartObject("chat");
                foreach (string field in new[] { "system", "user", "assistant", "end_of_turn" }) w.WriteString(field, chat.TokenOf(field));
                w.WriteEndObject();
            }
            w.WriteNumber("train_conversations", prepared.TrainConversations);
            w.WriteNumber("validation_conversations", prepared.ValidationConversations);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    static string Required(JsonElement root, string name) =>
        Optional(root, name) ?? throw new ArgumentException($"request_json: '{name}' (a string) is required");

    static string? Optional(JsonElement root, string name) =>
        root.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
}
