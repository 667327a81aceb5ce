using System.Text.Json.Nodes;

namespace BitTtt.MLNet;

/// <summary>
/// The column names of a fitted BitLlama transformer. They travel inside <c>.bitt</c> as the <c>mlnet</c> field of the
/// config (docs/model.md §1 keeps unknown fields), so a reloaded model reads and writes the columns the fitted one did.
/// The generation defaults travel beside them in the config's <c>generation</c> field, which the engine reads
/// (<see cref="BitTtt.Inference.SamplingOptions.FromConfig"/>), so every door of the model uses them.
/// </summary>
internal sealed record ColumnSettings(string PromptColumnName, string CompletionColumnName)
{
    public const string ConfigKey = "mlnet";

    public static ColumnSettings Default { get; } = new(BitLlamaDefaults.TextColumnName, BitLlamaDefaults.CompletionColumnName);

    /// <summary>
    /// The prompt column holds a conversation as JSON per row (<c>prompt_format</c> "messages"), to which the completion is
    /// the model's next reply; false: a prompt text (a user message for a model with a chat template).
    /// </summary>
    public bool Messages { get; init; }

    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["prompt_column"] = PromptColumnName,
            ["completion_column"] = CompletionColumnName,
        };
        if (Messages) json["prompt_format"] = "messages";
        return json;
    }

    /// <summary>Reads the <c>mlnet</c> field of a config; a model trained elsewhere has none and gets the default columns.</summary>
    public static ColumnSettings FromConfig(BitLlamaConfig config, string source)
    {
        if (!config.Extra.TryGetValue(ConfigKey, out var node) || node is null) return Default;
        if (node is not JsonObject obj)
            throw BitLlamaFormatException.In(source, $"config field '{ConfigKey}' must be an object, found {node.GetValueKind()}");
        ColumnSettings settings;
        try
        {
            string format = obj["prompt_format"]?.GetValue<string>() ?? "text";
            if (format is not ("text" or "messages"))
                throw BitLlamaFormatException.In(source, $"config field '{ConfigKey}.prompt_format' must be \"text\" or \"messages\", found '{format}'");
            settings = new ColumnSettings(
                obj["prompt_column"]?.GetValue<string>() ?? Default.PromptColumnName,
                obj["completion_column"]?.GetValue<string>() ?? Default.CompletionColumnName) { Messages = format == "messages" };
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw BitLlamaFormatException.In(source, $"config field '{ConfigKey}': {e.Message}", e);
        }
        settings.Check(source);
        return settings;
    }

    /// <summary>Rejects names a hand-edited or foreign file may hold, at load time and naming the file and field.</summary>
    void Check(string source)
    {
        if (string.IsNullOrWhiteSpace(PromptColumnName))
            throw BitLlamaFormatException.In(source, $"config field '{ConfigKey}.prompt_column' must name a column, found '{PromptColumnName}'");
        if (string.IsNullOrWhiteSpace(CompletionColumnName))
            throw BitLlamaFormatException.In(source, $"config field '{ConfigKey}.completion_column' must name a column, found '{CompletionColumnName}'");
    }

    /// <summary>The config with these columns in its <c>mlnet</c> field (other unknown fields kept).</summary>
    public BitLlamaConfig WriteTo(BitLlamaConfig config)
    {
        var extra = new Dictionary<string, JsonNode?>(config.Extra) { [ConfigKey] = ToJson() };
        return config with { Extra = extra };
    }
}
