using System.CommandLine;
using BitTtt.Formats;
using BitTtt.Inference;
using BitTtt.Inference.Engine;
using BitTtt.Tokenization;
using BitTtt.Training;

namespace BitTtt.Cli.Commands;

/// <summary>
/// <c>bit-llama export SOURCE --output model.bitt|DIR [--packed]</c>: a training checkpoint to a model directory or
/// <c>.bitt</c>; with <c>--packed</c>, a checkpoint or an fp32 model to a packed <c>.bitt</c> (docs/format.md §7).
/// </summary>
internal sealed class ExportCommand : ICliCommand
{
    public int Order => 70;

    public Command Create()
    {
        var source = new Argument<string>("source")
        {
            Description = "checkpoint.safetensors, or a training output directory holding one; with --packed also a .bitt file or model directory",
        };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer.json or 'gpt2' (default: the one beside the checkpoint)" };
        var output = new Option<string>("--output") { Description = "a path ending in .bitt for a single file, otherwise a model directory", Required = true };
        var packed = new Option<bool>("--packed")
        {
            Description = "write a packed .bitt: 2-bit ternary weights, int8 embedding and LM head (about 1/6 of the fp32 file; the managed engine and Python read it, training and TorchSharp need the fp32 file)",
        };
        var command = new Command("export", "Export a training checkpoint to a model directory or a .bitt file, or pack a model.") { source, tokenizer, output, packed };
        command.SetAction(r => CliCommands.Run(() =>
        {
            string path = r.GetValue(source)!, target = r.Get(output);
            if (r.Get(packed)) return Packed(path, r.GetValue(tokenizer), target);
            var (config, weights, tok) = ReadCheckpoint(path, r.GetValue(tokenizer));
            if (target.EndsWith(".bitt", StringComparison.OrdinalIgnoreCase)) ModelPackage.WriteBitt(target, config, tok.ToJson(), weights);
            else ModelPackage.WriteDirectory(target, config, tok.ToJson(), weights);
            Console.WriteLine($"wrote {Path.GetFullPath(target)}");
            return 0;
        }).GetAwaiter().GetResult());
        return command;
    }

    static int Packed(string path, string? tokenizerPath, string target)
    {
        if (!target.EndsWith(".bitt", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--output {target}: a packed model is a single .bitt file; give a path ending in .bitt");
        if (IsCheckpoint(path))
        {
            var (config, weights, tok) = ReadCheckpoint(path, tokenizerPath);
            var byName = weights.ToDictionary(t => t.Name, t => t.Data.ToArray());
            PackedBitt.Write(target, InferenceWeights.Load(config, (name, _) => byName[name]), config, tok.ToJson());
        }
        else
        {
            if (tokenizerPath is not null) throw new ArgumentException("--tokenizer applies to a checkpoint; a model file has its own tokenizer");
            using var llama = Llama.LoadAuto(path);
            llama.SavePacked(target);
        }
        Console.WriteLine($"wrote {Path.GetFullPath(target)} ({new FileInfo(target).Length / 1e6:F1} MB, packed)");
        return 0;
    }

    /// <summary>A checkpoint file, or a directory holding checkpoint.safetensors (a training run's output).</summary>
    static bool IsCheckpoint(string path) =>
        Directory.Exists(path) ? File.Exists(Path.Combine(path, "checkpoint.safetensors")) : path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase);

    static (BitLlamaConfig Config, IReadOnlyList<SafeTensorData> Weights, BitLlamaTokenizer Tokenizer) ReadCheckpoint(string path, string? tokenizerOption)
    {
        string checkpoint = Directory.Exists(path) ? Path.Combine(path, "checkpoint.safetensors") : path;
        if (!File.Exists(checkpoint))
            throw new FileNotFoundException(
                $"{checkpoint}: checkpoint not found (give a checkpoint.safetensors, or the training output directory that holds one)", checkpoint);
        string tokenizerPath = tokenizerOption ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(checkpoint))!, "tokenizer.json");
        bool gpt2 = tokenizerPath.Equals("gpt2", StringComparison.OrdinalIgnoreCase) && !File.Exists(tokenizerPath);
        if (!gpt2 && !File.Exists(tokenizerPath))
            throw new FileNotFoundException($"{tokenizerPath}: tokenizer not found; pass --tokenizer tokenizer.json (or gpt2)", tokenizerPath);
        var tok = TokenizerCommand.LoadTokenizer(tokenizerPath);
        var (config, weights) = TrainingCheckpoint.ReadModel(checkpoint);
        if (tok.VocabSize != config.VocabSize)
            throw new ArgumentException($"{tokenizerPath}: tokenizer has {tok.VocabSize} tokens but the checkpoint's vocab_size is {config.VocabSize}");
        return (config, weights, tok);
    }
}
