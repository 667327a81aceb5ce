using System.Text.Json;
using System.Text.Json.Serialization;

namespace BitTtt.Samples.BusinessApp;

// The OpenAI wire format's requests and responses, as far as this server speaks it (docs/apps.md, "OpenAI-compatible
// endpoints"). Names are the wire's snake_case (OpenAiEndpoints.Json); fields a request may send in several shapes are
// JsonElement, read in OpenAiEndpoints. Unknown fields are ignored, as OpenAI does.

/// <summary>The fields both <c>/v1/chat/completions</c> and <c>/v1/completions</c> take.</summary>
public abstract class OpenAiRequest
{
    public string? Model { get; set; }
    public int? MaxTokens { get; set; }
    public float? Temperature { get; set; }
    public float? TopP { get; set; }
    /// <summary>Not in OpenAI's API; accepted as vLLM and llama.cpp's servers accept it.</summary>
    public int? TopK { get; set; }
    /// <summary>Not in OpenAI's API (vLLM's name); takes precedence over the penalties below.</summary>
    public float? RepetitionPenalty { get; set; }
    public float? FrequencyPenalty { get; set; }
    public float? PresencePenalty { get; set; }
    public long? Seed { get; set; }
    /// <summary>A string or an array of strings.</summary>
    public JsonElement? Stop { get; set; }
    public bool Stream { get; set; }
    public OpenAiStreamOptions? StreamOptions { get; set; }
    public int? N { get; set; }
    public JsonElement? LogitBias { get; set; }
}

public sealed class OpenAiStreamOptions
{
    public bool IncludeUsage { get; set; }
}

/// <summary>POST /v1/chat/completions.</summary>
public sealed class OpenAiChatRequest : OpenAiRequest
{
    public List<OpenAiMessage?>? Messages { get; set; }
    public int? MaxCompletionTokens { get; set; }
    public bool? Logprobs { get; set; }
    public int? TopLogprobs { get; set; }
    public JsonElement? Tools { get; set; }
    public JsonElement? ToolChoice { get; set; }
    public JsonElement? Functions { get; set; }
    public JsonElement? FunctionCall { get; set; }
    public JsonElement? ResponseFormat { get; set; }
    public JsonElement? Audio { get; set; }
    public JsonElement? Modalities { get; set; }
}

public sealed class OpenAiMessage
{
    public string? Role { get; set; }
    /// <summary>A string, or an array of content parts of which only <c>{"type": "text"}</c> is supported.</summary>
    public JsonElement? Content { get; set; }
    public JsonElement? ToolCalls { get; set; }
}

/// <summary>POST /v1/completions.</summary>
public sealed class OpenAiCompletionRequest : OpenAiRequest
{
    /// <summary>A string, or an array of one string.</summary>
    public JsonElement? Prompt { get; set; }
    public int? BestOf { get; set; }
    public int? Logprobs { get; set; }
    public bool Echo { get; set; }
    public string? Suffix { get; set; }
}

public sealed record OpenAiUsage(int PromptTokens, int CompletionTokens, int TotalTokens, OpenAiPromptTokensDetails PromptTokensDetails)
{
    public static OpenAiUsage Of(int prompt, int cached, int completion) => new(prompt, completion, prompt + completion, new(cached));
}

public sealed record OpenAiPromptTokensDetails(int CachedTokens);

public sealed record OpenAiChatCompletion(string Id, string Object, long Created, string Model, OpenAiChatChoice[] Choices, OpenAiUsage Usage);

public sealed record OpenAiChatChoice(int Index, OpenAiAssistantMessage Message, string FinishReason);

public sealed record OpenAiAssistantMessage(string Role, string Content);

public sealed record OpenAiChatChunk(string Id, string Object, long Created, string Model, OpenAiChunkChoice[] Choices, OpenAiUsage? Usage);

public sealed record OpenAiChunkChoice(int Index, OpenAiDelta Delta, string? FinishReason);

public sealed record OpenAiDelta(string? Role, string? Content);

public sealed record OpenAiCompletion(string Id, string Object, long Created, string Model, OpenAiCompletionChoice[] Choices, OpenAiUsage? Usage);

public sealed record OpenAiCompletionChoice(int Index, string Text, string? FinishReason);

public sealed record OpenAiModel(string Id, string Object, long Created, string OwnedBy);

public sealed record OpenAiModelList(string Object, OpenAiModel[] Data);

/// <summary>OpenAI's error shape: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
public sealed record OpenAiError(OpenAiErrorBody Error);

public sealed record OpenAiErrorBody(string Message, string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Code);
