using System.Text.Json;
using System.Text.Json.Serialization;
using BitTtt.Extensions.AI;
using BitTtt.Inference;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace BitTtt.Samples.BusinessApp;

/// <summary>
/// The OpenAI wire format beside our own API, so the official SDKs and tools built on it (Microsoft.Extensions.AI.OpenAI,
/// Semantic Kernel, ...) talk to the model: <c>POST /v1/chat/completions</c>, <c>POST /v1/completions</c>,
/// <c>GET /v1/models</c>, <c>GET /v1/models/{id}</c>. Requests are stateless, as OpenAI's are: a chat is formatted by the
/// chat client's template (through <see cref="IChatClient"/>, never a copy of it) and runs one-shot; the model's
/// prefix cache makes a resent history cost only its new tokens. Unset sampling fields take the server's defaults (the
/// model's, with the BitLlama section on top), like our own API; unknown fields are ignored and unsupported ones (tools,
/// n &gt; 1, logprobs, ...) are a 400 naming them, in OpenAI's error shape (docs/apps.md).
/// </summary>
public static class OpenAiEndpoints
{
    /// <summary>The wire's JSON: snake_case names, nulls left out of responses.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static void AddOpenAiApi(this WebApplicationBuilder builder) => builder.Services.AddExceptionHandler<OpenAiErrors>();

    public static void MapOpenAiApi(this WebApplication app)
    {
        var api = app.MapGroup("/v1").WithMetadata(OpenAiApiMetadata.Instance);
        api.MapPost("/chat/completions", ChatCompletions).RequireRateLimiting(BusinessApi.GenerationPolicy);
        api.MapPost("/completions", Completions).RequireRateLimiting(BusinessApi.GenerationPolicy);
        api.MapGet("/models", (IChatClient chat, Llama llama) => Results.Json(new OpenAiModelList("list", [Model(chat, llama)]), Json));
        api.MapGet("/models/{id}", (string id, IChatClient chat, Llama llama) => id == ModelId(chat)
            ? Results.Json(Model(chat, llama), Json)
            : Error(new OpenAiException(404, $"The model '{id}' does not exist; this server serves '{ModelId(chat)}'", "model", "model_not_found")));
    }

    static Task<IResult> ChatCompletions(HttpContext http, IChatClient chat, Llama llama, IOptions<ApiLimits> limits,
        IOptions<BitLlamaServiceOptions> settings, GenerationStats stats, GenerationShutdown shutdown) =>
        Guard(http, shutdown, async () =>
        {
            var request = await BusinessApi.ReadJson<OpenAiChatRequest>(http, Json);
            string model = CheckModel(request.Model, chat);
            Unsupported(request);
            var messages = Messages(request.Messages, limits.Value);
            var sampling = Sampling(llama.DefaultSampling.With(settings.Value), request, request.MaxCompletionTokens, limits.Value);
            var options = BusinessApi.ChatOptionsFor(sampling);
            options.AdditionalProperties = new() { [BitLlamaChatClient.StartConversationKey] = false };   // stateless: no conversation slot
            string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
            long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            using var active = stats.Begin("chat.completions", messages);
            using var stop = shutdown.Link(http);
            if (!request.Stream)
            {
                var response = await chat.GetResponseAsync(messages, options, stop.Token);
                string finish = Finish(response.FinishReason == ChatFinishReason.Length);
                active.Finished(response.Usage, finish, response.Text);
                return Results.Json(new OpenAiChatCompletion(id, "chat.completion", created, model,
                    [new OpenAiChatChoice(0, new OpenAiAssistantMessage("assistant", response.Text), finish)], Usage(response.Usage)), Json);
            }
            bool includeUsage = request.StreamOptions?.IncludeUsage == true, first = true;
            string Chunk(OpenAiDelta delta, string? finish) => JsonSerializer.Serialize(
                new OpenAiChatChunk(id, "chat.completion.chunk", created, model, [new OpenAiChunkChoice(0, delta, finish)], null), Json);
            IEnumerable<string> Events(ChatResponseUpdate update)
            {
                string? role = first ? "assistant" : null;   // the first chunk names the role, as OpenAI's do
                first = false;
                if (update.Text.Length > 0 || role is not null)
                {
                    if (update.Text.Length > 0) active.Piece(update.Text);
                    yield return Chunk(new OpenAiDelta(role, update.Text), null);
                }
                if (update.FinishReason is not { } reason) yield break;
                var usage = update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
                string finish = Finish(reason == ChatFinishReason.Length);
                active.Finished(usage, finish, null);
                yield return Chunk(new OpenAiDelta(null, null), finish);
                if (includeUsage) yield return JsonSerializer.Serialize(new OpenAiChatChunk(id, "chat.completion.chunk", created, model, [], Usage(usage)), Json);
            }
            await using var updates = chat.GetStreamingResponseAsync(messages, options, stop.Token).GetAsyncEnumerator(stop.Token);
            await ServerSentEvents.RunAsync(http, updates, shutdown, active, Events, StoppedEvent);
            return Results.Empty;
        });

    static Task<IResult> Completions(HttpContext http, IChatClient chat, Llama llama, IOptions<ApiLimits> limits,
        IOptions<BitLlamaServiceOptions> settings, GenerationStats stats, GenerationShutdown shutdown) =>
        Guard(http, shutdown, async () =>
        {
            var request = await BusinessApi.ReadJson<OpenAiCompletionRequest>(http, Json);
            string model = CheckModel(request.Model, chat);
            Unsupported(request);
            string prompt = Prompt(request.Prompt, limits.Value);
            var sampling = Sampling(llama.DefaultSampling.With(settings.Value), request, null, limits.Value);
            string id = "cmpl-" + Guid.NewGuid().ToString("N");
            long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            using var active = stats.Begin("completions", prompt);
            using var stop = shutdown.Link(http);
            if (!request.Stream)
            {
                var result = await llama.CompleteAsync(prompt, sampling, stop.Token);
                string finish = Finish(result.FinishReason == LlamaFinishReason.Length);
                active.Finished(result.PromptTokens, result.CachedPromptTokens, result.CompletionTokens, finish, result.Text);
                return Results.Json(new OpenAiCompletion(id, "text_completion", created, model, [new OpenAiCompletionChoice(0, result.Text, finish)],
                    OpenAiUsage.Of(result.PromptTokens, result.CachedPromptTokens, result.CompletionTokens)), Json);
            }
            bool includeUsage = request.StreamOptions?.IncludeUsage == true;
            string Chunk(string text, string? finish, OpenAiUsage? usage) => JsonSerializer.Serialize(new OpenAiCompletion(id, "text_completion", created, model,
                usage is null ? [new OpenAiCompletionChoice(0, text, finish)] : [], usage), Json);
            IEnumerable<string> Events(LlamaCompletionUpdate update)
            {
                if (update.FinishReason is not { } reason)
                {
                    active.Piece(update.Text);
                    yield return Chunk(update.Text, null, null);
                    yield break;
                }
                string finish = Finish(reason == LlamaFinishReason.Length);
                active.Finished(update.PromptTokens, update.CachedPromptTokens, update.CompletionTokens, finish, null);
                yield return Chunk(update.Text, finish, null);
                if (includeUsage) yield return Chunk("", null, OpenAiUsage.Of(update.PromptTokens, update.CachedPromptTokens, update.CompletionTokens));
            }
            await using var updates = llama.GenerateStreamingAsync(prompt, sampling, stop.Token).GetAsyncEnumerator(stop.Token);
            await ServerSentEvents.RunAsync(http, updates, shutdown, active, Events, StoppedEvent);
            return Results.Empty;
        });

    /// <summary>The last event of a stream the shutdown stopped: an error object, as OpenAI-compatible servers send mid-stream.</summary>
    static string StoppedEvent(string reason) =>
        JsonSerializer.Serialize(new OpenAiException(StatusCodes.Status503ServiceUnavailable, reason, null, "server_shutting_down").Body, Json);

    static string ModelId(IChatClient chat) => chat.GetService<ChatClientMetadata>()?.DefaultModelId ?? BitLlamaChatClient.ProviderName;

    static OpenAiModel Model(IChatClient chat, Llama llama)
    {
        string? path = llama.SourcePath;
        var written = path is null ? (DateTime?)null : File.Exists(path) ? File.GetLastWriteTimeUtc(path) : Directory.Exists(path) ? Directory.GetLastWriteTimeUtc(path) : null;
        return new OpenAiModel(ModelId(chat), "model", written is { } t ? new DateTimeOffset(t).ToUnixTimeSeconds() : 0, BitLlamaChatClient.ProviderName);
    }

    /// <summary>The served model's id; a request naming another is a 404, one naming none is served.</summary>
    static string CheckModel(string? requested, IChatClient chat)
    {
        string id = ModelId(chat);
        if (!string.IsNullOrEmpty(requested) && requested != id)
            throw new OpenAiException(404, $"The model '{requested}' does not exist; this server serves '{id}' (GET /v1/models)", "model", "model_not_found");
        return id;
    }

    static void Unsupported(OpenAiRequest r)
    {
        if (r.N is { } n && n != 1) throw Bad("n", $"n must be 1: this server generates one choice per request, got {n}");
        if (IsSet(r.LogitBias)) throw Bad("logit_bias", "logit_bias is not supported");
        switch (r)
        {
            case OpenAiChatRequest c:
                if (c.Logprobs == true || c.TopLogprobs is > 0) throw Bad(c.Logprobs == true ? "logprobs" : "top_logprobs", "logprobs are not supported");
                if (IsSet(c.Tools) || IsSet(c.Functions))
                    throw Bad(IsSet(c.Tools) ? "tools" : "functions", "tool calling is not supported: a BitLlama model has no tool-call format");
                if (!IsNoneOrAuto(c.ToolChoice)) throw Bad("tool_choice", "tool_choice other than \"none\" or \"auto\" is not supported (no tool calling)");
                if (!IsNoneOrAuto(c.FunctionCall)) throw Bad("function_call", "function_call other than \"none\" or \"auto\" is not supported (no tool calling)");
                if (c.ResponseFormat is { ValueKind: JsonValueKind.Object } format && format.TryGetProperty("type", out var type) && type.ToString() != "text")
                    throw Bad("response_format", $"response_format '{type}' is not supported; only text");
                if (IsSet(c.Audio) || c.Modalities is { ValueKind: JsonValueKind.Array } modalities && modalities.EnumerateArray().Any(m => m.ToString() == "audio"))
                    throw Bad(IsSet(c.Audio) ? "audio" : "modalities", "audio output is not supported");
                break;
            case OpenAiCompletionRequest p:
                if (p.BestOf is { } best && best != 1) throw Bad("best_of", $"best_of must be 1, got {best}");
                if (p.Logprobs is > 0) throw Bad("logprobs", "logprobs are not supported");
                if (p.Echo) throw Bad("echo", "echo is not supported");
                if (!string.IsNullOrEmpty(p.Suffix)) throw Bad("suffix", "suffix (insertion) is not supported");
                break;
        }
    }

    static bool IsSet(JsonElement? e) => e is { } v && v.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined or JsonValueKind.False => false,
        JsonValueKind.Array => v.GetArrayLength() > 0,
        JsonValueKind.Object => v.EnumerateObject().Any(),
        _ => true,
    };

    static bool IsNoneOrAuto(JsonElement? e) =>
        e is null or { ValueKind: JsonValueKind.Null } || e is { ValueKind: JsonValueKind.String } s && s.GetString() is "none" or "auto";

    /// <summary>Chat messages, with the roles OpenAI names (developer is system) and text content only.</summary>
    static List<ChatMessage> Messages(List<OpenAiMessage?>? list, ApiLimits limits)
    {
        if (list is null || list.Count == 0) throw Bad("messages", "messages is required: give at least one {\"role\": \"user\", \"content\": \"...\"}");
        var messages = new List<ChatMessage>();
        long chars = 0;
        for (int i = 0; i < list.Count; i++)
        {
            var m = list[i] ?? throw Bad($"messages[{i}]", $"messages[{i}] is null");
            var role = m.Role switch
            {
                "system" or "developer" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                "tool" or "function" => throw Bad($"messages[{i}].role", $"messages[{i}].role '{m.Role}' is not supported: this server does not call tools"),
                _ => throw Bad($"messages[{i}].role", $"messages[{i}].role '{m.Role}' is not one of system, developer, user, assistant"),
            };
            if (IsSet(m.ToolCalls)) throw Bad($"messages[{i}].tool_calls", $"messages[{i}].tool_calls: tool calls are not supported");
            string text = Text(m.Content, $"messages[{i}].content");
            if (string.IsNullOrWhiteSpace(text)) throw Bad($"messages[{i}].content", $"messages[{i}].content is empty");
            chars += text.Length;
            messages.Add(new ChatMessage(role, text));
        }
        if (chars > limits.MaxPromptChars)
            throw new OpenAiException(400, $"messages have {chars} characters, the limit is {limits.MaxPromptChars}", "messages", "context_length_exceeded");
        if (!messages.Any(m => m.Role == ChatRole.User)) throw Bad("messages", "messages has no user message");
        return messages;
    }

    /// <summary>A message's content: a string, or the concatenated text of an array of <c>{"type": "text", "text"}</c> parts.</summary>
    static string Text(JsonElement? content, string param) => content switch
    {
        null or { ValueKind: JsonValueKind.Null } => "",
        { ValueKind: JsonValueKind.String } s => s.GetString()!,
        { ValueKind: JsonValueKind.Array } parts => string.Concat(parts.EnumerateArray().Select((part, j) =>
            part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var type) && type.ToString() == "text"
                && part.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String
                ? text.GetString()
                : throw Bad($"{param}[{j}]", $"{param}[{j}]: content parts of type '{(part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var t) ? t : part.ValueKind)}' are not supported; only text"))),
        _ => throw Bad(param, $"{param} must be a string or an array of text parts"),
    };

    /// <summary>A completion's prompt: a string, or an array of one string (token arrays and several prompts are not supported).</summary>
    static string Prompt(JsonElement? prompt, ApiLimits limits)
    {
        string text = prompt switch
        {
            { ValueKind: JsonValueKind.String } s => s.GetString()!,
            { ValueKind: JsonValueKind.Array } a when a.GetArrayLength() == 1 && a[0].ValueKind == JsonValueKind.String => a[0].GetString()!,
            null or { ValueKind: JsonValueKind.Null } => "",
            _ => throw Bad("prompt", "prompt must be a string (or an array of one string); token arrays and several prompts are not supported"),
        };
        if (text.Length == 0) throw Bad("prompt", "prompt is required and must not be empty");
        if (text.Length > limits.MaxPromptChars)
            throw new OpenAiException(400, $"prompt has {text.Length} characters, the limit is {limits.MaxPromptChars}", "prompt", "context_length_exceeded");
        return text;
    }

    /// <summary>
    /// The request's sampling fields over the server's defaults, checked by <see cref="SamplingOptions"/>' rules and named
    /// by their wire name; then the API's cap on the token count. frequency_penalty (else presence_penalty) p becomes the
    /// repetition penalty 1 + p, as through IChatClient; repetition_penalty sets it directly.
    /// </summary>
    static SamplingOptions Sampling(SamplingOptions defaults, OpenAiRequest r, int? maxCompletionTokens, ApiLimits limits)
    {
        string maxName = maxCompletionTokens is not null ? "max_completion_tokens" : "max_tokens";
        int? max = maxCompletionTokens ?? r.MaxTokens;
        string penaltyName = r.RepetitionPenalty is not null ? "repetition_penalty" : r.FrequencyPenalty is not null ? "frequency_penalty" : "presence_penalty";
        var overrides = new SamplingOverrides
        {
            MaxTokens = max,
            Temperature = r.Temperature,
            TopP = r.TopP,
            TopK = r.TopK,
            RepetitionPenalty = r.RepetitionPenalty ?? ((r.FrequencyPenalty ?? r.PresencePenalty) is { } p ? 1 + p : null),
            Seed = r.Seed is { } seed ? seed is >= int.MinValue and <= int.MaxValue ? (int)seed : throw Bad("seed", $"seed must fit in 32 bits, got {seed}") : null,
            StopStrings = Stops(r.Stop),
        };
        var sampling = defaults.With(overrides);
        try { sampling.Validate(); }
        catch (OptionException e)
        {
            string param = e.Option switch
            {
                nameof(SamplingOptions.MaxTokens) => maxName,
                nameof(SamplingOptions.RepetitionPenalty) => penaltyName,
                nameof(SamplingOptions.StopStrings) => "stop",
                _ => SamplingOptions.NameOf(e.Option, NameStyle.Snake),
            };
            throw Bad(param, e.Option == nameof(SamplingOptions.RepetitionPenalty) && penaltyName != "repetition_penalty"
                ? $"{param} gives the repetition penalty 1 + {param}, which {e.Problem}" : $"{param} {e.Problem}");
        }
        if (max is null) return sampling with { MaxTokens = Math.Min(sampling.MaxTokens, limits.MaxTokensPerRequest) };
        if (sampling.MaxTokens > limits.MaxTokensPerRequest)
            throw Bad(maxName, $"{maxName} must be between 1 and {limits.MaxTokensPerRequest}, got {sampling.MaxTokens}");
        return sampling;
    }

    static string[]? Stops(JsonElement? stop) => stop switch
    {
        null or { ValueKind: JsonValueKind.Null } => null,
        { ValueKind: JsonValueKind.String } s => [s.GetString()!],
        { ValueKind: JsonValueKind.Array } a when a.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) => [.. a.EnumerateArray().Select(e => e.GetString()!)],
        _ => throw Bad("stop", "stop must be a string or an array of strings"),
    };

    static string Finish(bool length) => length ? "length" : "stop";

    static OpenAiUsage Usage(UsageDetails? usage) =>
        OpenAiUsage.Of((int)(usage?.InputTokenCount ?? 0), (int)(usage?.CachedInputTokenCount ?? 0), (int)(usage?.OutputTokenCount ?? 0));

    static OpenAiException Bad(string param, string message) => new(StatusCodes.Status400BadRequest, message, param);

    static IResult Error(OpenAiException e) => Results.Json(e.Body, Json, statusCode: e.Status);

    /// <summary>Runs a handler, turning the errors a client can cause into OpenAI's error shape; others go to the 500 handler.</summary>
    static async Task<IResult> Guard(HttpContext http, GenerationShutdown shutdown, Func<Task<IResult>> handler)
    {
        try { return await handler(); }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested) { return Results.Empty; }   // the client left: generation stopped
        catch (OperationCanceledException) when (shutdown.Stopped.IsCancellationRequested && !http.Response.HasStarted)
        {
            return Error(new OpenAiException(StatusCodes.Status503ServiceUnavailable, shutdown.Reason, null, "server_shutting_down"));
        }
        catch (Exception e) when (http.Response.HasStarted && e is not OutOfMemoryException) { http.Abort(); return Results.Empty; }
        catch (OpenAiException e) { return Error(e); }
        catch (ApiRequestException e)   // the body: malformed JSON (400) or too large (413)
        {
            return Error(new OpenAiException(e.Status, e.Message, e.Field == "body" ? null : e.Field, e.Status == 413 ? "request_too_large" : null));
        }
        catch (ArgumentException e) { return Error(new OpenAiException(StatusCodes.Status400BadRequest, e.Message, null)); }
    }
}
