using System.CommandLine;
using BitTtt.Inference;

namespace BitTtt.Cli;

/// <summary>
/// The engine flags shared by <c>generate</c> and <c>chat</c>, mapping <see cref="InferenceOptions"/>: <c>--fp32-lm-head</c>
/// keeps the LM head in fp32 (the int8 head is the default). <c>--int8-lm-head</c>, the opt-in of earlier versions, is
/// still accepted (hidden) and asks for what is now the default.
/// </summary>
internal sealed class EngineArguments
{
    public Option<bool> Fp32LmHead { get; } = new("--fp32-lm-head")
    {
        Description = "Run the LM head in fp32 (logits as the TorchSharp model's; slower decode). Default: int8 rows, docs/inference.md",
    };

    public Option<bool> Int8LmHead { get; } = new("--int8-lm-head") { Hidden = true, Description = "The default (kept for scripts written before it was)" };

    public void AddTo(Command command)
    {
        command.Options.Add(Fp32LmHead);
        command.Options.Add(Int8LmHead);
        command.Validators.Add(r =>
        {
            if (r.GetValue(Fp32LmHead) && r.GetValue(Int8LmHead)) r.AddError("--fp32-lm-head and --int8-lm-head exclude each other");
        });
    }

    public InferenceOptions Read(ParseResult r) => new() { Int8LmHead = !r.GetValue(Fp32LmHead) };
}
