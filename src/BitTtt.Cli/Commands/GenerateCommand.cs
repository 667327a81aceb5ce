using System.CommandLine;
using BitTtt.Inference;

namespace BitTtt.Cli.Commands;

/// <summary><c>bit-llama generate MODEL --prompt TEXT [sampling flags]</c>: streams a completion to stdout (managed engine).</summary>
internal sealed class GenerateCommand : ICliCommand
{
    public int Order => 30;

    public Command Create()
    {
        var model = new Argument<string>("model") { Description = "A .bitt file or a model directory" };
        var prompt = new Option<string>("--prompt") { Description = "Text to continue", Required = true };
        var sampling = new SamplingArguments();
        var engine = new EngineArguments();
        var command = new Command("generate", "Generate text from a prompt, streamed to stdout") { model, prompt };
        sampling.AddTo(command);
        engine.AddTo(command);
        command.SetAction((r, ct) => CliCommands.RunAsync(async ct =>
        {
            var overrides = sampling.Read(r);
            string text = r.Get(prompt);
            if (text.Length == 0)   // checked before the model loads; the library's message speaks of Learn(text), a CLI user has no such call
                throw new ArgumentException("--prompt: the prompt is empty; give some text to continue");
            using var llama = Llama.LoadAuto(r.GetValue(model)!, engine.Read(r));
            var options = llama.DefaultSampling.With(overrides);   // the model's defaults, with the flags given
            using var stdout = new StreamWriter(Console.OpenStandardOutput(), new System.Text.UTF8Encoding(false)) { AutoFlush = true };
            await foreach (var piece in llama.CompleteStreamingAsync(text, options, ct))
                await stdout.WriteAsync(piece);
            await stdout.WriteLineAsync();
            return 0;
        }, ct));
        return command;
    }
}
