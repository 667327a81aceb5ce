using System.Text.Json.Nodes;
using BitTtt.Sampling;

namespace BitTtt.MLNet;

/// <summary>
/// The generation defaults of a fitted BitLlama transformer and its column names. They travel inside
/// <c>.bitt</c> as the <c>mlnet</c> field of the config (docs/model.md §1 keeps unknown fields), so a reloaded model
/// answers a prompt exactly as the fitted one did.
/// </summary>
internal sealed record GenerationSettings(int MaxNewTokens, float Temperature, int TopK, float TopP, float RepetitionPenalty, int Seed)
{
    public const string ConfigKey = "mlnet";

    public string PromptColumnName { get; init; } = BitLlamaDefaults.TextColumnName;
    public string CompletionColumnName { get; init; } = BitLlamaDefaults.CompletionColumnName;

    public static GenerationSettings Default { get; } = new(BitLlamaDefaults.MaxNewTokens, BitLlamaDefaults.Temperature,
        BitLlamaDefaults.TopK, BitLlamaDefaults.TopP, BitLlamaDefaults.RepetitionPenalty, BitLlamaDefaults.Seed);

    public SamplingOptions ToSampling() => new()
    {
        MaxTokens = MaxNewTokens, Temperature = Temperature, TopK = TopK, TopP = TopP,
        RepetitionPenalty = RepetitionPenalty, Seed = Seed,
    };

    public JsonObject ToJson() => new()
    {
        ["prompt_column"] = PromptColumnName,
        ["completion_column"] = CompletionColumnName,
        ["max_new_tokens"] = MaxNewTokens,
        ["temperature"] = Temperature,
        ["top_k"] = TopK,
        ["top_p"] = TopP,
        ["repetition_penalty"] = RepetitionPenalty,
        ["seed"] = Seed,
    };

    /// <summary>Reads the <c>mlnet</c> field of a config; a model trained elsewhere has none and gets the defaults.</summary>
    public static GenerationSettings FromConfig(BitLlamaConfig config, string source)
    {
        if (!config.Extra.TryGetValue(ConfigKey, out var node) || node is null) return Default;
        if (node is not JsonObject obj)
            throw BitLlamaFormatException.In(source, $"config field '{ConfigKey}' must be an object, found {node.GetValueKind()}");
        GenerationSettings settings;
        try
        {
            var d = Default;
            settings = new GenerationSettings(
                obj["max_new_tokens"]?.GetValue<int>() ?? d.MaxNewTokens,
                obj["temperature"]?.GetValue<float>() ?? d.Temperature,
                obj["top_k"]?.GetValue<int>() ?? d.TopK,
                obj["top_p"]?.GetValue<float>() ?? d.TopP,
                obj["repetition_penalty"]?.GetValue<float>() ?? d.RepetitionPenalty,
                obj["seed"]?.GetValue<int>() ?? d.Seed)
            {
                PromptColumnName = obj["prompt_column"]?.GetValue<string>() ?? d.PromptColumnName,
                CompletionColumnName = obj["completion_column"]?.GetValue<string>() ?? d.CompletionColumnName,
            };
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw BitLlamaFormatException.In(source, $"config field '{ConfigKey}': {e.Message}", e);
        }
        settings.Check(source);
        return settings;
    }

    /// <summary>
    /// Rejects values a hand-edited or foreign file may hold, at load time and naming the file and field,
    /// instead of failing inside every later prediction.
    /// </summary>
    void Check(string source)
    {
        if (string.IsNullOrWhiteSpace(PromptColumnName))
            throw BitLlamaFormatException.In(source, $"config field '{ConfigKey}.prompt_column' must name a column, found '{PromptColumnName}'");
        if (string.IsNullOrWhiteSpace(CompletionColumnName))
            throw BitLlamaFormatException.In(source, $"config field '{ConfigKey}.completion_column' must name a column, found '{CompletionColumnName}'");
        try { ToSampling().Validate(); }
        catch (ArgumentException e)
        {
            string field = e.ParamName switch
            {
                nameof(SamplingOptions.MaxTokens) => "max_new_tokens",
                nameof(SamplingOptions.Temperature) => "temperature",
                nameof(SamplingOptions.TopK) => "top_k",
                nameof(SamplingOptions.TopP) => "top_p",
                nameof(SamplingOptions.RepetitionPenalty) => "repetition_penalty",
                _ => e.ParamName ?? "?",
            };
            string message = e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            throw BitLlamaFormatException.In(source, $"config field '{ConfigKey}.{field}': {message}", e);
        }
    }

    /// <summary>The config with these settings in its <c>mlnet</c> field (other unknown fields kept).</summary>
    public BitLlamaConfig WriteTo(BitLlamaConfig config)
    {
        var extra = new Dictionary<string, JsonNode?>(config.Extra) { [ConfigKey] = ToJson() };
        return config with { Extra = extra };
    }
}
