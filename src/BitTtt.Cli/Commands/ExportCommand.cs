using System.CommandLine;
using BitTtt.Formats;
using BitTtt.Tokenization;
using BitTtt.Training;

namespace BitTtt.Cli.Commands;

/// <summary><c>bit-llama export CHECKPOINT --output model.bitt|DIR</c>: a training checkpoint to a model directory or <c>.bitt</c>.</summary>
internal sealed class ExportCommand : ICliCommand
{
    public int Order => 70;

    public Command Create()
    {
        var source = new Argument<string>("checkpoint") { Description = "checkpoint.safetensors, or a training output directory holding one" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json or 'gpt2' (default: the one beside the checkpoint)" };
        var output = new Option<string>("--output") { Description = "a path ending in .bitt for a single file, otherwise a model directory", Required = true };
        var command = new Command("export", "Export a training checkpoint to a model directory or a .bitt file.") { source, tokenizer, output };
        command.SetAction(r => CliCommands.Run(() =>
        {
            string path = r.GetValue(source)!;
            string checkpoint = Directory.Exists(path) ? Path.Combine(path, "checkpoint.safetensors") : path;
            if (!File.Exists(checkpoint))
                throw new FileNotFoundException(
                    $"{checkpoint}: checkpoint not found (give a checkpoint.safetensors, or the training output directory that holds one)", checkpoint);
            string tokenizerPath = r.GetValue(tokenizer) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(checkpoint))!, "tokenizer.json");
            bool gpt2 = tokenizerPath.Equals("gpt2", StringComparison.OrdinalIgnoreCase) && !File.Exists(tokenizerPath);
            if (!gpt2 && !File.Exists(tokenizerPath))
                throw new FileNotFoundException($"{tokenizerPath}: tokenizer not found; pass --tokenizer tokenizer.json (or gpt2)", tokenizerPath);
            var tok = TokenizerCommand.LoadTokenizer(tokenizerPath);
            var (config, weights) = TrainingCheckpoint.ReadModel(checkpoint);
            if (tok.VocabSize != config.VocabSize)
                throw new ArgumentException($"{tokenizerPath}: tokenizer has {tok.VocabSize} tokens but the checkpoint's vocab_size is {config.VocabSize}");
            string target = r.Get(output);
            if (target.EndsWith(".bitt", StringComparison.OrdinalIgnoreCase)) ModelPackage.WriteBitt(target, config, tok.ToJson(), weights);
            else ModelPackage.WriteDirectory(target, config, tok.ToJson(), weights);
            Console.WriteLine($"wrote {Path.GetFullPath(target)}");
            return 0;
        }).GetAwaiter().GetResult());
        return command;
    }
}
