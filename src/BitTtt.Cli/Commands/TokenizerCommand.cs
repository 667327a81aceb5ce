using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using BitTtt.Tokenization;
using BitTtt.Training;

namespace BitTtt.Cli.Commands;

/// <summary><c>bit-llama tokenizer train | encode | decode</c>.</summary>
internal sealed class TokenizerCommand : ICliCommand
{
    public int Order => 10;

    public Command Create()
    {
        var command = new Command("tokenizer", "Train a byte-level BPE tokenizer, or encode and decode text with one.");
        command.Subcommands.Add(Train());
        command.Subcommands.Add(Encode());
        command.Subcommands.Add(Decode());
        return command;
    }

    private static Command Train()
    {
        var input = new Option<string[]>("--input") { Description = "Corpus text file (UTF-8), or a directory: every *.txt under it in path order; repeat for several", Required = true };
        var vocabSize = new Option<int>("--vocab-size") { Description = $"Vocabulary size including 3 specials and 256 bytes ({BpeTrainerOptions.MinVocabSize} to {BpeTrainerOptions.MaxVocabSize})", DefaultValueFactory = _ => BpeTrainerOptions.DefaultVocabSize };
        var minFrequency = new Option<int>("--min-frequency") { Description = "Do not merge pairs seen fewer times than this", DefaultValueFactory = _ => BpeTrainerOptions.DefaultMinFrequency };
        var output = new Option<string>("--output") { Description = "Where to write tokenizer.json", DefaultValueFactory = _ => "tokenizer.json" };
        var command = new Command("train", "Train byte-level BPE on text files and write a Hugging Face tokenizer.json.") { input, vocabSize, minFrequency, output };
        // BpeTrainerOptions names its properties in messages; the user typed these flags.
        var flagOf = new Dictionary<string, string>
        {
            [nameof(BpeTrainerOptions.VocabSize)] = vocabSize.Name, [nameof(BpeTrainerOptions.MinFrequency)] = minFrequency.Name,
        };
        command.SetAction((parseResult, ct) => CliCommands.RunAsync(ct =>
        {
            var options = new BpeTrainerOptions { VocabSize = parseResult.Get(vocabSize), MinFrequency = parseResult.Get(minFrequency) };
            options.Validate();
            var watch = Stopwatch.StartNew();
            string json = BpeTrainer.TrainFromFiles(TrainingText.Files(parseResult.Get(input)), options, ct);
            double seconds = watch.Elapsed.TotalSeconds;
            var tokenizer = BitLlamaTokenizer.FromJson(json, parseResult.Get(output));
            AtomicFile.WriteAllText(parseResult.Get(output), json);
            int merges = System.Text.Json.Nodes.JsonNode.Parse(json)!["model"]!["merges"]!.AsArray().Count;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"vocab size {tokenizer.VocabSize}, merges {merges}, {seconds:F2} s -> {parseResult.Get(output)}"));
            return Task.FromResult(0);
        }, ct, name => flagOf.GetValueOrDefault(name, name)));
        return command;
    }

    private static Option<string> TokenizerOption() =>
        new("--tokenizer") { Description = "tokenizer.json file, or 'gpt2'", Required = true };

    private static Command Encode()
    {
        var tokenizer = TokenizerOption();
        var text = new Option<string>("--text") { Description = "Text to encode" };
        var input = new Option<string>("--input") { Description = "Encode this UTF-8 file instead of --text" };
        var stats = new Option<bool>("--stats") { Description = "Print token count and throughput instead of the ids" };
        var command = new Command("encode", "Print the token ids of a text, comma separated.") { tokenizer, text, input, stats };
        command.SetAction((parseResult, ct) => CliCommands.RunAsync(_ =>
        {
            string? inline = parseResult.GetValue(text), file = parseResult.GetValue(input);
            if ((inline is null) == (file is null)) throw new ArgumentException("give exactly one of --text TEXT or --input FILE");
            if (file is not null && !File.Exists(file)) throw new FileNotFoundException($"input file '{file}' does not exist", file);
            var loaded = LoadTokenizer(parseResult.Get(tokenizer));
            string content = inline ?? File.ReadAllText(file!);
            if (!parseResult.GetValue(stats))
            {
                Console.WriteLine(string.Join(",", loaded.Encode(content)));
                return Task.FromResult(0);
            }
            loaded.Encode(content[..Math.Min(content.Length, 4096)]);       // JIT warm-up, not timed
            var watch = Stopwatch.StartNew();
            int count = loaded.Encode(content).Length;
            double seconds = watch.Elapsed.TotalSeconds;
            double megabytes = System.Text.Encoding.UTF8.GetByteCount(content) / 1e6;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{megabytes:F3} MB -> {count} tokens ({megabytes * 1e6 / Math.Max(count, 1):F2} bytes/token) in {seconds:F3} s = {megabytes / seconds:F2} MB/s"));
            return Task.FromResult(0);
        }, ct));
        return command;
    }

    private static Command Decode()
    {
        var tokenizer = TokenizerOption();
        var ids = new Option<string>("--ids") { Description = "Comma-separated token ids, e.g. 1,2,3", Required = true };
        var command = new Command("decode", "Print the text of comma-separated token ids.") { tokenizer, ids };
        command.SetAction((parseResult, ct) => CliCommands.RunAsync(_ =>
        {
            var loaded = LoadTokenizer(parseResult.Get(tokenizer));
            Console.WriteLine(loaded.Decode(TokenIds.Parse(parseResult.Get(ids), "--ids")));
            return Task.FromResult(0);
        }, ct));
        return command;
    }

    internal static BitLlamaTokenizer LoadTokenizer(string value) => TrainingData.LoadTokenizer(value);
}
