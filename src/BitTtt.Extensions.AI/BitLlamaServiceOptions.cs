using BitTtt.Inference;
using BitTtt.Sampling;

namespace BitTtt.Extensions.AI;

/// <summary>
/// Settings for <c>services.AddBitLlama(...)</c>, bindable from configuration (section <see cref="SectionName"/>):
/// <code>"BitLlama": { "ModelPath": "model.bitt", "MaxConversations": 64, "Temperature": 0.8 }</code>
/// </summary>
public sealed class BitLlamaServiceOptions
{
    public const string SectionName = "BitLlama";

    /// <summary>A <c>.bitt</c> file or model directory (required).</summary>
    public string ModelPath { get; set; } = "";
    /// <summary>See <see cref="InferenceOptions.Int8LmHead"/>.</summary>
    public bool Int8LmHead { get; set; }
    public int MaxConversations { get; set; } = 64;
    public string? MemoryDirectory { get; set; }
    public bool StartConversations { get; set; } = true;
    public string? ModelId { get; set; }

    // Sampling defaults of the chat client (a request's ChatOptions override them).
    public int MaxTokens { get; set; } = 128;
    public float Temperature { get; set; } = 0.8f;
    public int TopK { get; set; } = 40;
    public float TopP { get; set; } = 0.95f;
    public float RepetitionPenalty { get; set; } = 1.1f;

    public SamplingOptions ToSampling() => new()
    {
        MaxTokens = MaxTokens,
        Temperature = Temperature,
        TopK = TopK,
        TopP = TopP,
        RepetitionPenalty = RepetitionPenalty,
    };

    public BitLlamaChatClientOptions ToChatClientOptions() => new()
    {
        Defaults = ToSampling(),
        MaxConversations = MaxConversations,
        MemoryDirectory = MemoryDirectory,
        StartConversations = StartConversations,
        ModelId = ModelId,
    };

    /// <summary>Loads the model, with errors that name the configuration key.</summary>
    public Llama LoadModel()
    {
        if (string.IsNullOrWhiteSpace(ModelPath))
            throw new InvalidOperationException($"{SectionName}:ModelPath is not set; give the path of a .bitt file or model directory (configuration, or AddBitLlama(path))");
        if (!File.Exists(ModelPath) && !Directory.Exists(ModelPath))
            throw new FileNotFoundException($"{SectionName}:ModelPath '{ModelPath}' does not exist (expected a .bitt file or a model directory)", ModelPath);
        return Llama.LoadAuto(ModelPath, new InferenceOptions { Int8LmHead = Int8LmHead });
    }

    /// <summary>Throws naming the first invalid setting.</summary>
    public void Validate()
    {
        try
        {
            ToSampling().Validate();
            ToChatClientOptions().Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"{SectionName}:{e.ParamName}: {e.Message.Split(" (Parameter")[0]}", e);
        }
    }
}
