using System.Text.Json;
using BitTtt.Extensions.AI;
using BitTtt.Inference;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace BitTtt.Samples.BusinessApp;

/// <summary>
/// Our own API: <c>POST /v1/complete</c>, <c>POST /v1/chat</c> (JSON or SSE), <c>DELETE /v1/conversations/{id}</c>, with
/// RFC 7807 problem details naming the field at fault; and what every part of the app shares: the builder, the model
/// and chat services, the generation rate limit, reading a JSON body. The endpoints talk to <see cref="IChatClient"/>
/// and <see cref="IBitLlamaConversations"/> from DI, so a host that registers others (a cluster) keeps them.
/// </summary>
public static partial class BusinessApi
{
    /// <summary>The rate-limiting policy of every endpoint that generates.</summary>
    public const string GenerationPolicy = "generation";
    static readonly JsonSerializerOptions Json = JsonSerializerOptions.Web;

    /// <summary>The builder: appsettings.json from beside the app, the command line (with <c>--model</c>), the Api limits.</summary>
    public static WebApplicationBuilder CreateBuilder(string[] args)
    {
        // appsettings.json is read from beside the app; the model path, like any path on the command line, is relative to
        // the directory the app was started from (the .csproj keeps `dotnet run`'s working directory the caller's).
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddCommandLine(args, new Dictionary<string, string> { ["--model"] = "BitLlama:ModelPath" });
        builder.Services.Configure<ApiLimits>(builder.Configuration.GetSection(ApiLimits.SectionName));
        return builder;
    }

    /// <summary>The model, its chat client (IChatClient, IBitLlamaConversations), request limits and the error shapes.</summary>
    public static void AddChatServices(this WebApplicationBuilder builder)
    {
        builder.Services.AddBitLlama(builder.Configuration.GetSection(BitLlamaServiceOptions.SectionName));
        builder.Services.AddSingleton<GenerationStats>();
        builder.Services.AddProblemDetails();
        var limits = builder.Configuration.GetSection(ApiLimits.SectionName).Get<ApiLimits>() ?? new ApiLimits();
        limits.Validate();
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = limits.MaxRequestBodyBytes);   // beyond it: 413, see ReadJson
        builder.Services.AddRateLimiter(o =>
        {
            o.AddConcurrencyLimiter(GenerationPolicy, c => { c.PermitLimit = limits.MaxConcurrentRequests; c.QueueLimit = 0; });   // full: 429 at once, never a queue
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = (context, _) =>
            {
                context.HttpContext.Response.Headers.RetryAfter = "1";
                string detail = $"the server is generating for {limits.MaxConcurrentRequests} requests already; retry later";
                return new ValueTask(context.HttpContext.GetEndpoint()?.Metadata.GetMetadata<OpenAiApiMetadata>() is not null
                    ? OpenAiErrors.Write(context.HttpContext, new OpenAiException(StatusCodes.Status429TooManyRequests, detail, null, "rate_limit_exceeded", "requests"))
                    : Problem(StatusCodes.Status429TooManyRequests, "request", detail).ExecuteAsync(context.HttpContext));
            };
        });
    }

    /// <summary>Unexpected errors become a bare 500 (never a stack trace), empty error statuses get a body, generation is rate limited.</summary>
    public static void UseApiErrors(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseRateLimiter();
    }

    /// <summary>Resolves the chat services now, so a bad model path or setting stops the start with a message naming its key.</summary>
    public static void StartServices(this WebApplication app)
    {
        app.Services.GetRequiredService<IChatClient>();
        app.Services.GetRequiredService<GenerationShutdown>();
    }

    public static void MapBusinessApi(this WebApplication app)
    {
        app.MapPost("/v1/complete", Complete).RequireRateLimiting(GenerationPolicy);
        app.MapPost("/v1/chat", Chat).RequireRateLimiting(GenerationPolicy);
        app.MapDelete("/v1/conversations/{id}", ResetConversation);
    }

    static Task<IResult> Complete(HttpContext http, Llama llama, IOptions<ApiLimits> limits, IOptions<BitLlamaServiceOptions> settings,
        GenerationStats stats, GenerationShutdown shutdown) =>
        Guard(http, async () =>
        {
            var request = await ReadJson<CompleteRequest>(http, Json);
            if (string.IsNullOrEmpty(request.Prompt)) throw new ApiRequestException(400, "prompt", "prompt is required and must not be empty");
            if (request.Prompt.Length > limits.Value.MaxPromptChars)
                throw new ApiRequestException(400, "prompt", $"prompt has {request.Prompt.Length} characters, the limit is {limits.Value.MaxPromptChars}");
            var sampling = Sampling(llama.DefaultSampling.With(settings.Value), request, limits.Value);
            using var active = stats.Begin("complete", request.Prompt);
            using var stop = shutdown.Link(http);
            var result = await llama.CompleteAsync(request.Prompt, sampling, stop.Token);
            string finish = result.FinishReason == LlamaFinishReason.Length ? "length" : "stop";
            active.Finished(result.PromptTokens, result.CachedPromptTokens, result.CompletionTokens, finish, result.Text);
            return Results.Ok(new CompleteResponse(result.Text, result.PromptTokens, result.CompletionTokens, finish));
        });

    static Task<IResult> Chat(HttpContext http, IChatClient client, Llama llama, IOptions<ApiLimits> limits, IOptions<BitLlamaServiceOptions> settings,
        GenerationStats stats, GenerationShutdown shutdown) =>
        Guard(http, async () =>
        {
            var request = await ReadJson<ChatRequest>(http, Json);
            if (request.ConversationId is { } id)
                try { BitLlamaChatClient.ValidateConversationId(id); }
                catch (ArgumentException e) { throw new ApiRequestException(400, "conversationId", Detail(e).Replace("ConversationId", "conversationId")); }
            if (request.ConversationId is not null && request.StartConversation)
                throw new ApiRequestException(400, "startConversation", "startConversation starts a new conversation; it cannot be given with a conversationId");
            var messages = Messages(request.Messages, limits.Value);
            var sampling = Sampling(llama.DefaultSampling.With(settings.Value), request, limits.Value);
            var options = ChatOptionsFor(sampling);
            options.ConversationId = request.ConversationId;
            options.AdditionalProperties = new() { [BitLlamaChatClient.StartConversationKey] = request.StartConversation };
            using var active = stats.Begin("chat", messages);
            using var stop = shutdown.Link(http);
            if (!request.Stream)
            {
                var response = await client.GetResponseAsync(messages, options, stop.Token);
                string finish = response.FinishReason == ChatFinishReason.Length ? "length" : "stop";
                active.Finished(response.Usage, finish, response.Text);
                return Results.Ok(new ChatResponseDto(response.ConversationId, response.Text, (int)(response.Usage?.InputTokenCount ?? 0),
                    (int)(response.Usage?.OutputTokenCount ?? 0), finish));
            }
            await using var updates = client.GetStreamingResponseAsync(messages, options, stop.Token).GetAsyncEnumerator(stop.Token);
            await ServerSentEvents.RunAsync(http, updates, shutdown, active,
                update => [JsonSerializer.Serialize(ChatEvent(update, active), Json)],
                reason => JsonSerializer.Serialize(new { text = "", finishReason = "shutdown", detail = reason, conversationId = request.ConversationId }, Json));
            return Results.Empty;
        });

    /// <summary>The SSE event of one chat update: the text, and on the last the finish reason, token counts and conversation id.</summary>
    static object ChatEvent(ChatResponseUpdate update, GenerationStats.Active active)
    {
        if (update.FinishReason is not { } finish)
        {
            active.Piece(update.Text);
            return new { text = update.Text };
        }
        var usage = update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
        string reason = finish == ChatFinishReason.Length ? "length" : "stop";
        active.Finished(usage, reason, null);
        return new
        {
            text = update.Text,
            finishReason = reason,
            promptTokens = usage?.InputTokenCount ?? 0,
            completionTokens = usage?.OutputTokenCount ?? 0,
            conversationId = update.ConversationId,
        };
    }

    /// <summary>ChatOptions carrying exactly <paramref name="sampling"/> (the chat client adds the template's stop strings).</summary>
    internal static ChatOptions ChatOptionsFor(SamplingOptions sampling) => new()
    {
        MaxOutputTokens = sampling.MaxTokens, Temperature = sampling.Temperature, TopK = sampling.TopK, TopP = sampling.TopP,
        FrequencyPenalty = sampling.RepetitionPenalty - 1, Seed = sampling.Seed, StopSequences = [.. sampling.StopStrings],
    };

    static async Task<IResult> ResetConversation(string id, IBitLlamaConversations conversations, CancellationToken cancellationToken)
    {
        try
        {
            return await conversations.ResetConversationAsync(id, cancellationToken) ? Results.NoContent()
                : Problem(StatusCodes.Status404NotFound, "id", $"conversation '{id}' is unknown (never started, or evicted)");
        }
        catch (ArgumentException e) { return Problem(StatusCodes.Status400BadRequest, "id", Detail(e)); }
        catch (InvalidOperationException e) { return Problem(StatusCodes.Status409Conflict, "id", e.Message); }
    }

    static List<ChatMessage> Messages(List<ChatMessageDto?>? dtos, ApiLimits limits)
    {
        if (dtos is null || dtos.Count == 0) throw new ApiRequestException(400, "messages", "messages is required: give at least one {\"role\": \"user\", \"content\": \"...\"}");
        var messages = new List<ChatMessage>();
        long chars = 0;
        for (int i = 0; i < dtos.Count; i++)
        {
            var m = dtos[i] ?? throw new ApiRequestException(400, $"messages[{i}]", $"messages[{i}] is null");
            var role = m.Role?.ToLowerInvariant() switch
            {
                "system" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                _ => throw new ApiRequestException(400, $"messages[{i}].role", $"messages[{i}].role '{m.Role}' is not one of system, user, assistant"),
            };
            if (string.IsNullOrWhiteSpace(m.Content)) throw new ApiRequestException(400, $"messages[{i}].content", $"messages[{i}].content is empty");
            chars += m.Content.Length;
            messages.Add(new ChatMessage(role, m.Content));
        }
        if (chars > limits.MaxPromptChars) throw new ApiRequestException(400, "messages", $"messages have {chars} characters, the limit is {limits.MaxPromptChars}");
        if (!messages.Any(m => m.Role == ChatRole.User)) throw new ApiRequestException(400, "messages", "messages has no user message");
        return messages;
    }

    /// <summary>
    /// The request's sampling fields over the server's defaults (the model's, with the BitLlama section's settings on
    /// top), checked by <see cref="SamplingOptions"/>' rules and named by their JSON field; then the API's own cap on
    /// maxTokens.
    /// </summary>
    static SamplingOptions Sampling(SamplingOptions defaults, SamplingOverrides request, ApiLimits limits)
    {
        var sampling = defaults.With(request);
        sampling.Validate(NameStyle.Json);
        if (request.MaxTokens is null) return sampling with { MaxTokens = Math.Min(sampling.MaxTokens, limits.MaxTokensPerRequest) };
        string maxTokens = SamplingOptions.NameOf(nameof(SamplingOptions.MaxTokens), NameStyle.Json);
        if (sampling.MaxTokens > limits.MaxTokensPerRequest)
            throw new ApiRequestException(400, maxTokens, $"{maxTokens} must be between 1 and {limits.MaxTokensPerRequest}, got {sampling.MaxTokens}");
        return sampling;
    }

    /// <summary>
    /// The body as <typeparamref name="T"/>. Malformed JSON is a 400 naming where; a body over Kestrel's
    /// <c>MaxRequestBodySize</c> (<see cref="ApiLimits.MaxRequestBodyBytes"/>) is a 413, whatever its size and whether
    /// or not it says its length up front (Kestrel throws while the body is read, here).
    /// </summary>
    internal static async Task<T> ReadJson<T>(HttpContext http, JsonSerializerOptions options) where T : class
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(http.Request.Body, options, http.RequestAborted)
                ?? throw new ApiRequestException(400, "body", "the body is JSON null; expected an object");
        }
        catch (JsonException e)
        {
            string path = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : e.Path.TrimStart('$', '.');
            throw new ApiRequestException(400, path.Length == 0 ? "body" : path,
                $"the body is not valid JSON for this request{(path.Length == 0 ? "" : $" at '{path}'")} (line {e.LineNumber + 1}, byte {e.BytePositionInLine})");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            long? limit = http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
            throw new ApiRequestException(413, "body", $"the request body is larger than the server's limit of {limit} bytes (Api:MaxRequestBodyBytes)");
        }
        catch (BadHttpRequestException e)
        {
            throw new ApiRequestException(e.StatusCode, "body", $"the request body could not be read: {e.Message}");
        }
    }

    /// <summary>Runs a handler, turning the errors a client can cause into problem details (4xx); others go to the 500 handler.</summary>
    static async Task<IResult> Guard(HttpContext http, Func<Task<IResult>> handler)
    {
        var shutdown = http.RequestServices.GetRequiredService<GenerationShutdown>();
        try { return await handler(); }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested) { return Results.Empty; }   // the client left: generation stopped
        catch (OperationCanceledException) when (shutdown.Stopped.IsCancellationRequested && !http.Response.HasStarted)
        {
            return Problem(StatusCodes.Status503ServiceUnavailable, "request", shutdown.Reason);
        }
        catch (Exception e) when (http.Response.HasStarted && e is not OutOfMemoryException) { http.Abort(); return Results.Empty; }
        catch (ApiRequestException e) { return Problem(e.Status, e.Field, e.Message); }
        catch (ConversationNotFoundException e) { return Problem(StatusCodes.Status404NotFound, "conversationId", e.Message); }
        catch (ArgumentException e) { return Problem(StatusCodes.Status400BadRequest, e.ParamName ?? "request", Detail(e)); }
        catch (InvalidOperationException e) when (e.Message.Contains("already in use", StringComparison.Ordinal))
        {
            return Problem(StatusCodes.Status409Conflict, "conversationId", "this conversation is answering another request; wait for it to finish");
        }
    }

    static string Detail(ArgumentException e) => e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "");

    static IResult Problem(int status, string field, string detail) =>
        Results.Problem(detail: detail, statusCode: status, extensions: new Dictionary<string, object?> { ["field"] = field });
}
