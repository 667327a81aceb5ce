using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using BitTtt.Formats;
using BitTtt.Inference.Engine;
using BitTtt.Training;
using static TorchSharp.torch;

namespace BitTtt.Cli.Commands;

/// <summary>
/// <c>bit-llama logits MODEL --tokens 1,2,3</c>: prints <c>{"logits": [[...], ...]}</c>, one row of V floats
/// per position, tokens processed in order from a zero TTT state. Used to check engines against docs/model.md.
/// </summary>
internal sealed class LogitsCommand : ICliCommand
{
    public int Order => 60;

    public Command Create()
    {
        var model = new Argument<string>("model") { Description = "model directory or .bitt file" };
        var tokens = new Option<string>("--tokens") { Description = "comma-separated token ids", Required = true };
        var engine = new Option<string>("--engine") { Description = "which implementation computes the logits: managed (the packed-ternary CPU engine) or torch", DefaultValueFactory = _ => "managed" };
        var device = new Option<string>("--device") { Description = "cpu or cuda (torch engine)", DefaultValueFactory = _ => "cpu" };
        var heads = new EngineArguments();
        var command = new Command("logits", "Print the logits a model computes for a token sequence, as JSON.") { model, tokens, engine, device };
        heads.AddTo(command);
        command.SetAction(r => CliCommands.Run(() =>
        {
            var ids = TokenIds.Parse(r.Get(tokens), "--tokens");
            // The managed engine only runs on the CPU; silently ignoring --device cuda would report CPU logits as CUDA ones.
            if (r.Get(engine).Equals("managed", StringComparison.OrdinalIgnoreCase) && r.GetResult(device) is { Implicit: false }
                && !r.Get(device).Equals("cpu", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"--device {r.Get(device)} applies to --engine torch; the managed engine runs on the CPU");
            float[][] rows = r.Get(engine).ToLowerInvariant() switch
            {
                "managed" => ManagedLogits(r.GetValue(model)!, ids, heads.Read(r)),
                "torch" => TorchLogits(r.GetValue(model)!, ids, r.Get(device)),
                _ => throw new ArgumentException($"--engine '{r.Get(engine)}' is not known; available: managed, torch"),
            };
            WriteJson(rows);
            return 0;
        }).GetAwaiter().GetResult());
        return command;
    }

    /// <summary>The managed engine, token by token from a zero state (no tokenizer needed); an fp32 or packed file.</summary>
    static float[][] ManagedLogits(string path, int[] ids, Inference.InferenceOptions options)
    {
        InferenceWeights weights;
        using (var package = ModelPackage.Open(path))
            weights = package.IsPacked
                ? PackedBitt.Load(package, options)
                : InferenceWeights.Load(package.Config, (name, shape) => package.Weights.ReadFloat32(name, shape), options);
        int vocab = weights.Config.VocabSize;
        CheckVocabulary(ids, vocab);
        var state = new SequenceState(weights);
        return ids.Select(id =>
        {
            var row = new float[vocab];
            Forward.Run(state, [id], row);
            return row;
        }).ToArray();
    }

    static float[][] TorchLogits(string path, int[] ids, string device)
    {
        using var model = ModelWeights.LoadModel(path, device);
        int vocab = model.Config.VocabSize;
        CheckVocabulary(ids, vocab);
        using var _ = no_grad();
        using var input = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]).to(model.parameters().First().device);
        using var logits = model.forward(input);                 // (1, T, V)
        using var cpu = logits.cpu();
        var flat = cpu.data<float>().ToArray();
        return Enumerable.Range(0, ids.Length).Select(t => flat.AsSpan(t * vocab, vocab).ToArray()).ToArray();
    }

    static void CheckVocabulary(int[] ids, int vocab)
    {
        for (int i = 0; i < ids.Length; i++)
            if (ids[i] >= vocab) throw new ArgumentException($"--tokens: token {ids[i]} at position {i} is outside the model's vocabulary [0, {vocab})");
    }

    static void WriteJson(float[][] rows)
    {
        using var stdout = Console.OpenStandardOutput();
        using (var json = new Utf8JsonWriter(stdout))
        {
            json.WriteStartObject();
            json.WriteStartArray("logits");
            foreach (var row in rows)
            {
                json.WriteStartArray();
                foreach (float v in row) json.WriteNumberValue(v);
                json.WriteEndArray();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        stdout.WriteByte((byte)'\n');
    }
}
