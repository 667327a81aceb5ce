using System.CommandLine;
using BitTtt.Inference;

namespace BitTtt.Cli;

/// <summary>
/// The sampling flags shared by <c>generate</c> and <c>chat</c>: each is a <see cref="SamplingOptions"/> option under its
/// <see cref="NameStyle.CliFlag"/> name. A flag left out keeps the model's default (<see cref="Llama.DefaultSampling"/>:
/// what the model file stores, else the library default the help names).
/// </summary>
internal sealed class SamplingArguments
{
    static readonly SamplingOptions Library = new();

    public Option<int?> MaxTokens { get; } = Flag<int?>(nameof(SamplingOptions.MaxTokens), "Most tokens to generate", Library.MaxTokens);
    public Option<float?> Temperature { get; } = Flag<float?>(nameof(SamplingOptions.Temperature), "Sampling temperature; 0 = greedy", Library.Temperature);
    public Option<int?> TopK { get; } = Flag<int?>(nameof(SamplingOptions.TopK), "Sample among the K most likely tokens; 0 = all", Library.TopK);
    public Option<float?> TopP { get; } = Flag<float?>(nameof(SamplingOptions.TopP), "Nucleus sampling mass, in (0, 1]", Library.TopP);
    public Option<float?> RepetitionPenalty { get; } = Flag<float?>(nameof(SamplingOptions.RepetitionPenalty), "Penalty for tokens already in the context; 1 = off", Library.RepetitionPenalty);
    public Option<int?> Seed { get; } = Flag<int?>(nameof(SamplingOptions.Seed), "Random seed; the same seed gives the same text", "a fresh one per completion");
    public Option<string[]> Stop { get; } = new(SamplingOptions.NameOf(nameof(SamplingOptions.StopStrings), NameStyle.CliFlag))
    {
        Description = "Stop before this text (repeatable)",
        AllowMultipleArgumentsPerToken = false,
    };

    static Option<T> Flag<T>(string property, string description, object? libraryDefault) =>
        new(SamplingOptions.NameOf(property, NameStyle.CliFlag))
        {
            Description = $"{description} (default: the model's stored setting, else {Convert.ToString(libraryDefault, System.Globalization.CultureInfo.InvariantCulture)})",
        };

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

    /// <summary>
    /// The flags as parsed, checked by <see cref="SamplingOptions"/>' rules before any model loads (each rule concerns
    /// one value, so the library defaults stand in for the model's); an invalid value is rejected naming the flag.
    /// </summary>
    public SamplingOverrides Read(ParseResult r)
    {
        var stops = r.GetValue(Stop);
        var overrides = new SamplingOverrides
        {
            MaxTokens = r.GetValue(MaxTokens),
            Temperature = r.GetValue(Temperature),
            TopK = r.GetValue(TopK),
            TopP = r.GetValue(TopP),
            RepetitionPenalty = r.GetValue(RepetitionPenalty),
            Seed = r.GetValue(Seed),
            StopStrings = stops is { Length: > 0 } ? stops : null,
        };
        Library.With(overrides).Validate(NameStyle.CliFlag);
        return overrides;
    }
}
