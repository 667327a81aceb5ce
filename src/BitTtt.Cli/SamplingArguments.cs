using System.CommandLine;
using BitTtt.Sampling;

namespace BitTtt.Cli;

/// <summary>The sampling flags shared by <c>generate</c> and <c>chat</c>, with <see cref="SamplingOptions"/>' defaults.</summary>
internal sealed class SamplingArguments
{
    static readonly SamplingOptions Defaults = new();

    public Option<int> MaxTokens { get; } = new("--max-tokens") { Description = "Most tokens to generate", DefaultValueFactory = _ => Defaults.MaxTokens };
    public Option<float> Temperature { get; } = new("--temperature") { Description = "Sampling temperature; 0 = greedy", DefaultValueFactory = _ => Defaults.Temperature };
    public Option<int> TopK { get; } = new("--top-k") { Description = "Sample among the K most likely tokens; 0 = all", DefaultValueFactory = _ => Defaults.TopK };
    public Option<float> TopP { get; } = new("--top-p") { Description = "Nucleus sampling mass, in (0, 1]", DefaultValueFactory = _ => Defaults.TopP };
    public Option<float> RepetitionPenalty { get; } = new("--repetition-penalty") { Description = "Penalty for tokens already in the context; 1 = off", DefaultValueFactory = _ => Defaults.RepetitionPenalty };
    public Option<int?> Seed { get; } = new("--seed") { Description = "Random seed; the same seed gives the same text" };
    public Option<string[]> Stop { get; } = new("--stop") { Description = "Stop before this text (repeatable)", AllowMultipleArgumentsPerToken = false };

    public void AddTo(Command command)
    {
        command.Options.Add(MaxTokens);
        command.Options.Add(Temperature);
        command.Options.Add(TopK);
        command.Options.Add(TopP);
        command.Options.Add(RepetitionPenalty);
        command.Options.Add(Seed);
        command.Options.Add(Stop);
    }

    /// <summary>The options as parsed; invalid values are rejected naming the flag.</summary>
    public SamplingOptions Read(ParseResult r)
    {
        var options = new SamplingOptions
        {
            MaxTokens = r.Get(MaxTokens),
            Temperature = r.Get(Temperature),
            TopK = r.Get(TopK),
            TopP = r.Get(TopP),
            RepetitionPenalty = r.Get(RepetitionPenalty),
            Seed = r.GetValue(Seed),
            StopStrings = r.GetValue(Stop) ?? [],
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            string flag = e.ParamName switch
            {
                nameof(SamplingOptions.MaxTokens) => "--max-tokens",
                nameof(SamplingOptions.Temperature) => "--temperature",
                nameof(SamplingOptions.TopK) => "--top-k",
                nameof(SamplingOptions.TopP) => "--top-p",
                nameof(SamplingOptions.RepetitionPenalty) => "--repetition-penalty",
                _ => "--stop",
            };
            throw new ArgumentException($"{flag}: {e.Message.Split(" (Parameter")[0]}", e);
        }
        return options;
    }
}
