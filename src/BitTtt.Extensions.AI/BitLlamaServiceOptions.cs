using BitTtt.Inference;

namespace BitTtt.Extensions.AI;

/// <summary>
/// Settings for <c>services.AddBitLlama(...)</c>, bindable from configuration (section <see cref="SectionName"/>):
/// <code>"BitLlama": { "ModelPath": "model.bitt", "MaxConversations": 64, "Temperature": 0.5 }</code>
/// The sampling keys (<c>MaxTokens</c>, <c>Temperature</c>, <c>TopK</c>, <c>TopP</c>, <c>RepetitionPenalty</c>,
/// <c>Seed</c>, <c>StopStrings</c>) are <see cref="SamplingOverrides"/>: each one set replaces the model's stored
/// default (<see cref="Llama.DefaultSampling"/>) for the chat client; a request's ChatOptions override both.
/// </summary>
public sealed class BitLlamaServiceOptions : SamplingOverrides
{
    public const string SectionName = "BitLlama";

    /// <summary>A <c>.bitt</c> file or model directory; a relative path is relative to the current directory. Required unless the model is registered by a factory.</summary>
    public string ModelPath { get; set; } = "";
    /// <summary>See <see cref="InferenceOptions.Int8LmHead"/> (on by default).</summary>
    public bool Int8LmHead { get; set; } = new InferenceOptions().Int8LmHead;
    /// <summary>See <see cref="InferenceOptions.Batching"/> (on by default).</summary>
    public bool Batching { get; set; } = new InferenceOptions().Batching;
    public int MaxConversations { get; set; } = new BitLlamaChatClientOptions().MaxConversations;
    public string? MemoryDirectory { get; set; }
    public bool StartConversations { get; set; } = new BitLlamaChatClientOptions().StartConversations;
    public string? ModelId { get; set; }
    /// <summary>
    /// States kept by the model's <see cref="PrefixStateCache"/> for one-shot chats and completions that resend a history
    /// (<see cref="Llama.EnablePrefixCache"/>); 0 turns the cache off.
    /// </summary>
    public int PrefixCacheEntries { get; set; } = PrefixStateCache.DefaultMaxEntries;
    /// <summary>Bytes those states may take, in MiB.</summary>
    public int PrefixCacheMegabytes { get; set; } = (int)(PrefixStateCache.DefaultMaxBytes >> 20);

    /// <summary>Turns on the prefix cache of <paramref name="model"/> as these settings say, unless it has one or they turn it off.</summary>
    public void ApplyPrefixCache(Llama model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (PrefixCacheEntries > 0 && model.PrefixCache is null) model.EnablePrefixCache(PrefixCacheEntries, (long)PrefixCacheMegabytes << 20);
    }

    /// <summary>The chat client's options over <paramref name="model"/>: its stored sampling defaults with these settings on top.</summary>
    public BitLlamaChatClientOptions ToChatClientOptions(Llama model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return ChatClientOptions(model.DefaultSampling.With(this));
    }

    BitLlamaChatClientOptions ChatClientOptions(SamplingOptions defaults) => new()
    {
        Defaults = defaults,
        MaxConversations = MaxConversations,
        MemoryDirectory = MemoryDirectory,
        StartConversations = StartConversations,
        ModelId = ModelId,
    };

    /// <summary>Loads the model, with errors that name the configuration key and the full path looked at.</summary>
    public Llama LoadModel()
    {
        if (string.IsNullOrWhiteSpace(ModelPath))
            throw new InvalidOperationException($"{SectionName}:ModelPath is not set; give the path of a .bitt file or model directory (configuration, or AddBitLlama(path))");
        if (!File.Exists(ModelPath) && !Directory.Exists(ModelPath))
            throw new FileNotFoundException($"{SectionName}:ModelPath '{ModelPath}' does not exist ({Path.GetFullPath(ModelPath)}; expected a .bitt file or a model directory)", ModelPath);
        return Llama.LoadAuto(ModelPath, new InferenceOptions { Int8LmHead = Int8LmHead, Batching = Batching });
    }

    /// <summary>
    /// Throws <see cref="InvalidOperationException"/> naming the first invalid setting by its configuration key. The
    /// sampling settings are checked by <see cref="SamplingOptions"/>' rules (over any model's defaults: each rule
    /// concerns one value), the others by <see cref="BitLlamaChatClientOptions"/>'.
    /// </summary>
    public void Validate()
    {
        try
        {
            ChatClientOptions(new SamplingOptions().With(this)).Validate();
            if (PrefixCacheEntries < 0) throw new OptionException(nameof(PrefixCacheEntries), $"must be 0 (off) or positive, got {PrefixCacheEntries}");
            if (PrefixCacheMegabytes <= 0) throw new OptionException(nameof(PrefixCacheMegabytes), $"must be positive, got {PrefixCacheMegabytes}");
        }
        catch (OptionException e) { throw new InvalidOperationException($"{SectionName}:{e.Message}", e); }
    }
}
