using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BitTtt.Inference;

/// <summary>
/// How the next token is chosen (docs/model.md §3 Generation): the one definition of the generation settings, their
/// defaults, their rules and their names. <see cref="Temperature"/> 0 is greedy; <see cref="TopK"/> 0 and
/// <see cref="TopP"/> 1 disable those filters; the same <see cref="Seed"/> gives the same text. Every door maps this
/// type: ML.NET's <c>BitLlamaOptions.Generation</c>, dependency injection and the web API (through
/// <see cref="SamplingOverrides"/>), the CLI flags, the C ABI's <c>bitttt_sampling</c> and Python's keywords, each
/// naming an option as <see cref="NameOf"/> spells it.
/// <para>A model file may store its own defaults (config field <see cref="ConfigField"/>, docs/model.md §1);
/// <see cref="Llama.DefaultSampling"/> holds them, and every door starts from there.</para>
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>The config field (docs/model.md §1) that stores a model's generation defaults.</summary>
    public const string ConfigField = "generation";

    public int MaxTokens { get; init; } = 128;
    public float Temperature { get; init; } = 0.8f;
    public int TopK { get; init; } = 40;
    public float TopP { get; init; } = 0.95f;
    /// <summary>Logits of tokens already in the context are divided (if positive) or multiplied (if negative) by this; 1 disables it.</summary>
    public float RepetitionPenalty { get; init; } = 1.1f;
    /// <summary>Seed of the sampler's random numbers; null picks a fresh one per completion.</summary>
    public int? Seed { get; init; }
    /// <summary>Generation stops before the first occurrence of any of these; they are not emitted. Never stored with a model.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>The options and their names at every door; spellings differ from the derived ones only for the stop strings.</summary>
    public static IReadOnlyList<OptionName> Names { get; } =
    [
        new(nameof(MaxTokens)), new(nameof(Temperature)), new(nameof(TopK)), new(nameof(TopP)),
        new(nameof(RepetitionPenalty)), new(nameof(Seed)),
        new(nameof(StopStrings), CliFlag: "--stop", Snake: "stop"),
    ];

    /// <summary>The name of option <paramref name="property"/> (e.g. <c>nameof(TopP)</c>) as <paramref name="style"/> spells it.</summary>
    public static string NameOf(string property, NameStyle style) =>
        (Names.FirstOrDefault(n => n.Property == property) ?? throw new ArgumentException($"'{property}' is not a sampling option", nameof(property))).In(style);

    /// <summary>Greedy decoding (temperature 0) with no repetition penalty; <paramref name="maxTokens"/> null keeps the default.</summary>
    public static SamplingOptions Greedy(int? maxTokens = null)
    {
        var greedy = new SamplingOptions { Temperature = 0, RepetitionPenalty = 1f };
        return maxTokens is int n ? greedy with { MaxTokens = n } : greedy;
    }

    /// <summary>These options with every value <paramref name="overrides"/> sets replacing this one's.</summary>
    public SamplingOptions With(SamplingOverrides? overrides) => overrides is null ? this : new()
    {
        MaxTokens = overrides.MaxTokens ?? MaxTokens,
        Temperature = overrides.Temperature ?? Temperature,
        TopK = overrides.TopK ?? TopK,
        TopP = overrides.TopP ?? TopP,
        RepetitionPenalty = overrides.RepetitionPenalty ?? RepetitionPenalty,
        Seed = overrides.Seed ?? Seed,
        StopStrings = overrides.StopStrings ?? StopStrings,
    };

    /// <summary>Throws an <see cref="OptionException"/> for the first option outside its rule, naming the property.</summary>
    public void Validate()
    {
        if (MaxTokens <= 0)
            throw new OptionException(nameof(MaxTokens), $"must be positive, got {MaxTokens}");
        if (!(Temperature >= 0) || float.IsInfinity(Temperature))
            throw new OptionException(nameof(Temperature), $"must be a finite number >= 0 (0 = greedy), got {Temperature}");
        if (TopK < 0)
            throw new OptionException(nameof(TopK), $"must be >= 0 (0 = no limit), got {TopK}");
        if (!(TopP > 0 && TopP <= 1))
            throw new OptionException(nameof(TopP), $"must be in (0, 1] (1 = off), got {TopP}");
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty))
            throw new OptionException(nameof(RepetitionPenalty), $"must be a finite number > 0 (1 = off), got {RepetitionPenalty}");
        if (StopStrings is null || StopStrings.Any(string.IsNullOrEmpty))
            throw new OptionException(nameof(StopStrings), "must not contain null or empty strings");
    }

    /// <summary>
    /// <see cref="Validate()"/>, naming the option as <paramref name="style"/> spells it, after <paramref name="prefix"/>
    /// (e.g. <c>"BitLlama:"</c> for a configuration key, <c>"Generation."</c> for a nested options property).
    /// </summary>
    public void Validate(NameStyle style, string prefix = "")
    {
        try { Validate(); }
        catch (OptionException e) { throw e.Naming(prefix + NameOf(e.Option, style)); }
    }

    /// <summary>
    /// The generation defaults stored in <paramref name="config"/> (field <see cref="ConfigField"/>, docs/model.md §1), or
    /// these library defaults for a model that stores none. Files written before that field existed kept them in the
    /// ML.NET field <c>mlnet</c> (with <c>max_new_tokens</c> for MaxTokens); they are read from there. A value of the
    /// wrong kind or outside its rule is a <see cref="BitLlamaFormatException"/> naming <paramref name="source"/> and the field.
    /// </summary>
    public static SamplingOptions FromConfig(BitLlamaConfig config, string? source)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Extra.TryGetValue(ConfigField, out var node) && node is not null)
            return Read(node, ConfigField, static name => NameOf(name, NameStyle.Snake), strict: true, source);
        if (config.Extra.TryGetValue(LegacyField, out var legacy) && legacy is JsonObject old && old.Any(kv => IsLegacyKey(kv.Key)))
            return Read(old, LegacyField, LegacyKey, strict: false, source);
        return new SamplingOptions();
    }

    /// <summary>
    /// <paramref name="config"/> with these options stored as its generation defaults (and the sampling fields of the
    /// older <c>mlnet</c> field dropped, other unknown fields kept). Stop strings belong to a call, never to a model.
    /// </summary>
    public BitLlamaConfig StoreIn(BitLlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Validate();
        if (StopStrings.Count > 0)
            throw new OptionException(nameof(StopStrings), "cannot be stored with a model (give stop strings with each call)");
        static string Key(string name) => NameOf(name, NameStyle.Snake);
        var stored = new JsonObject
        {
            [Key(nameof(MaxTokens))] = MaxTokens,
            [Key(nameof(Temperature))] = Temperature,
            [Key(nameof(TopK))] = TopK,
            [Key(nameof(TopP))] = TopP,
            [Key(nameof(RepetitionPenalty))] = RepetitionPenalty,
        };
        if (Seed is int seed) stored[Key(nameof(Seed))] = seed;   // no seed: a fresh one per completion
        var extra = new Dictionary<string, JsonNode?>(config.Extra) { [ConfigField] = stored };
        if (extra.TryGetValue(LegacyField, out var legacy) && legacy is JsonObject old)
        {
            var kept = new JsonObject();
            foreach (var (key, value) in old)
                if (!IsLegacyKey(key)) kept[key] = value?.DeepClone();
            extra[LegacyField] = kept;
        }
        return config with { Extra = extra };
    }

    /// <summary>The options a model file stores (all but the stop strings).</summary>
    static readonly string[] StoredNames = [nameof(MaxTokens), nameof(Temperature), nameof(TopK), nameof(TopP), nameof(RepetitionPenalty), nameof(Seed)];
    const string LegacyField = "mlnet";
    static string LegacyKey(string name) => name == nameof(MaxTokens) ? "max_new_tokens" : NameOf(name, NameStyle.Snake);
    static bool IsLegacyKey(string key) => StoredNames.Any(n => LegacyKey(n) == key);

    static SamplingOptions Read(JsonNode node, string field, Func<string, string> keyOf, bool strict, string? source)
    {
        BitLlamaFormatException Bad(string message) => BitLlamaFormatException.In(source, message);
        if (node is not JsonObject obj)
            throw Bad($"config field '{field}' must be an object, found {node.GetValueKind()}");
        if (strict)
            foreach (var (key, _) in obj)
                if (!StoredNames.Any(n => keyOf(n) == key))
                    throw Bad($"config field '{field}' has an unknown field '{key}' (known: {string.Join(", ", StoredNames.Select(keyOf))})");
        // A number as written in the file, or as built in memory (JsonValue<float>, <int>, ...), read through its JSON text.
        double? NumberAt(string key, string kind) =>
            obj[key] is not { } value ? null
            : value is JsonValue v && v.GetValueKind() == JsonValueKind.Number
                && double.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double x) ? x
            : throw Bad($"config field '{field}.{key}' must be {kind}, found {value.ToJsonString()}");
        int? Integer(string name)
        {
            string key = keyOf(name);
            return NumberAt(key, "an integer (32 bits)") is not double x ? null
                : x == Math.Floor(x) && x >= int.MinValue && x <= int.MaxValue ? (int)x
                : throw Bad($"config field '{field}.{key}' must be an integer (32 bits), found {obj[key]!.ToJsonString()}");
        }
        float? Number(string name) => NumberAt(keyOf(name), "a number") is double x ? (float)x : null;
        var defaults = new SamplingOptions();
        var options = defaults.With(new SamplingOverrides
        {
            MaxTokens = Integer(nameof(MaxTokens)),
            Temperature = Number(nameof(Temperature)),
            TopK = Integer(nameof(TopK)),
            TopP = Number(nameof(TopP)),
            RepetitionPenalty = Number(nameof(RepetitionPenalty)),
            Seed = Integer(nameof(Seed)),
        });
        try { options.Validate(); }
        catch (OptionException e) { throw Bad($"config field '{field}.{keyOf(e.Option)}' {e.Problem}"); }
        return options;
    }
}

/// <summary>
/// Generation settings a caller sets on top of a model's defaults (<see cref="SamplingOptions.With"/>): a null value
/// keeps the default. The names are <see cref="SamplingOptions"/>' own; the defaults and rules are only there. Doors
/// that bind settings by name derive from it: <c>BitLlamaServiceOptions</c> (configuration keys) and the web API's
/// request bodies (JSON fields).
/// </summary>
public class SamplingOverrides
{
    public int? MaxTokens { get; set; }
    public float? Temperature { get; set; }
    public int? TopK { get; set; }
    public float? TopP { get; set; }
    public float? RepetitionPenalty { get; set; }
    public int? Seed { get; set; }
    public IReadOnlyList<string>? StopStrings { get; set; }
}
