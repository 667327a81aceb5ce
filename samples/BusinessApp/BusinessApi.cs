using System.Text.Json;
using Microsoft.AspNetCore.RateLimiting;
using BitTtt.Extensions.AI;
using BitTtt.Inference;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace BitTtt.Samples.BusinessApp;

/// <summary>
/// The sample's web application: <c>POST /v1/complete</c>, <c>POST /v1/chat</c> (JSON or SSE),
/// <c>DELETE /v1/conversations/{id}</c>, <c>GET /health</c>. Tests build it with <see cref="Build"/> and start it on a
/// loopback port.
/// </summary>
public static class BusinessApi
{
    const string GenerationPolicy = "generation";
    static readonly JsonSerializerOptions Json = JsonSerializerOptions.Web;

    /// <summary>
    /// Builds the app from command-line arguments (<c>--model PATH</c> is <c>BitLlama:ModelPath</c>; <c>--urls</c>
    /// and <c>--Section:Key=value</c> as in any ASP.NET Core app) and appsettings.json. Loads the model now, so a
    /// bad path fails here with a message naming <c>BitLlama:ModelPath</c>.
    /// </summary>
    public static WebApplication Build(string[] args)
    {
        // appsettings.json is read from beside the app; the model path, like any path on the command line, is relative to
        // the directory the app was started from (the .csproj keeps `dotnet run`'s working directory the caller's).
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddCommandLine(args, new Dictionary<string, string> { ["--model"] = "BitLlama:ModelPath" });
        builder.Services.AddBitLlama(builder.Configuration.GetSection(BitLlamaServiceOptions.SectionName));
        builder.Services.Configure<ApiLimits>(builder.Configuration.GetSection("Api"));
        builder.Services.AddSingleton<GenerationStats>();
        builder.Services.AddProblemDetails();
        int permits = builder.Configuration.GetValue("Api:MaxConcurrentRequests", new ApiLimits().MaxConcurrentRequests);
        if (permits <= 0) throw new InvalidOperationException($"Api:MaxConcurrentRequests must be positive, got {permits}");
        builder.Services.AddRateLimiter(o =>
        {
            o.AddConcurrencyLimiter(GenerationPolicy, c => { c.PermitLimit = permits; c.QueueLimit = 0; });   // full: 429 at once, never a queue
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = (context, _) => new ValueTask(Problem(StatusCodes.Status429TooManyRequests, "request",
                $"the server is generating for {permits} requests already; retry later").ExecuteAsync(context.HttpContext));
        });

        var app = builder.Build();
        app.Services.GetRequiredService<BitLlamaChatClient>();   // load the model now: fail at start, not on the first request
        app.UseExceptionHandler();   // unexpected errors: a bare 500 problem, never a stack trace
        app.UseStatusCodePages();
        app.UseRateLimiter();
        app.MapGet("/health", Health);
        app.MapPost("/v1/complete", Complete).RequireRateLimiting(GenerationPolicy);
        app.MapPost("/v1/chat", Chat).RequireRateLimiting(GenerationPolicy);
        app.MapDelete("/v1/conversations/{id}", ResetConversation);
        return app;
    }

    static IResult Health(BitLlamaChatClient client, GenerationStats stats) => Results.Ok(new
    {
        status = "ok",
        model = client.Metadata.DefaultModelId,
        activeGenerations = stats.ActiveGenerations,
        piecesGenerated = stats.PiecesGenerated,
        liveConversations = client.LiveConversations,
    });

    static Task<IResult> Complete(HttpContext http, Llama llama, IOptions<ApiLimits> limits, IOptions<BitLlamaServiceOptions> settings, GenerationStats stats) =>
        Guard(http, async () =>
        {
            var request = await ReadJson<CompleteRequest>(http);
            if (string.IsNullOrEmpty(request.Prompt)) throw new ApiRequestException(400, "prompt", "prompt is required and must not be empty");
            if (request.Prompt.Length > limits.Value.MaxPromptChars)
                throw new ApiRequestException(400, "prompt", $"prompt has {request.Prompt.Length} characters, the limit is {limits.Value.MaxPromptChars}");
            var sampling = Sampling(llama.DefaultSampling.With(settings.Value), request, limits.Value);
            using var active = stats.Begin();
            var result = await llama.CompleteAsync(request.Prompt, sampling, http.RequestAborted);
            return Results.Ok(new CompleteResponse(result.Text, result.PromptTokens, result.CompletionTokens,
                result.FinishReason == LlamaFinishReason.Length ? "length" : "stop"));
        });

    static Task<IResult> Chat(HttpContext http, BitLlamaChatClient client, IOptions<ApiLimits> limits, IOptions<BitLlamaServiceOptions> settings, GenerationStats stats) =>
        Guard(http, async () =>
        {
            var request = await ReadJson<ChatRequest>(http);
            if (request.ConversationId is { } id && (id.Length is 0 or > 128 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
                throw new ApiRequestException(400, "conversationId", $"conversationId '{id}' is not valid: expected 1-128 characters of A-Z, a-z, 0-9, '-' or '_'");
            var messages = Messages(request.Messages, limits.Value);
            var sampling = Sampling(client.Model.DefaultSampling.With(settings.Value), request, limits.Value);
            var options = new ChatOptions
            {
                ConversationId = request.ConversationId, MaxOutputTokens = sampling.MaxTokens, Temperature = sampling.Temperature,
                TopK = sampling.TopK, TopP = sampling.TopP, FrequencyPenalty = sampling.RepetitionPenalty - 1, Seed = sampling.Seed,
                StopSequences = [.. sampling.StopStrings],
            };
            using var active = stats.Begin();
            if (!request.Stream)
            {
                var response = await client.GetResponseAsync(messages, options, http.RequestAborted);
                return Results.Ok(new ChatResponseDto(response.ConversationId, response.Text, (int)(response.Usage?.InputTokenCount ?? 0),
                    (int)(response.Usage?.OutputTokenCount ?? 0), response.FinishReason == ChatFinishReason.Length ? "length" : "stop"));
            }
            await using var updates = client.GetStreamingResponseAsync(messages, options, http.RequestAborted).GetAsyncEnumerator(http.RequestAborted);
            bool more = await updates.MoveNextAsync();   // validation and the prompt run here, before any byte is sent: errors still get a 4xx
            http.Response.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-cache";
            for (; more; more = await updates.MoveNextAsync())
                await WriteEvent(http, updates.Current, stats);
            await http.Response.WriteAsync("data: [DONE]\n\n", http.RequestAborted);
            return Results.Empty;
        });

    static async Task WriteEvent(HttpContext http, ChatResponseUpdate update, GenerationStats stats)
    {
        string data;
        if (update.FinishReason is { } finish)
        {
            var usage = update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
            data = JsonSerializer.Serialize(new
            {
                text = update.Text,
                finishReason = finish == ChatFinishReason.Length ? "length" : "stop",
                promptTokens = usage?.InputTokenCount ?? 0,
                completionTokens = usage?.OutputTokenCount ?? 0,
                conversationId = update.ConversationId,
            }, Json);
        }
        else
        {
            stats.Piece();
            data = JsonSerializer.Serialize(new { text = update.Text }, Json);
        }
        await http.Response.WriteAsync($"data: {data}\n\n", http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }

    static IResult ResetConversation(string id, BitLlamaChatClient client)
    {
        try
        {
            return client.ResetConversation(id) ? Results.NoContent()
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

    static async Task<T> ReadJson<T>(HttpContext http) where T : class
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(http.Request.Body, Json, http.RequestAborted)
                ?? throw new ApiRequestException(400, "body", "the body is JSON null; expected an object");
        }
        catch (JsonException e)
        {
            string where = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "" : $" at '{e.Path.TrimStart('$', '.')}'";
            throw new ApiRequestException(400, string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "body" : e.Path.TrimStart('$', '.'),
                $"the body is not valid JSON for this request{where} (line {e.LineNumber + 1}, byte {e.BytePositionInLine})");
        }
    }

    /// <summary>Runs a handler, turning the errors a client can cause into problem details (4xx); others go to the 500 handler.</summary>
    static async Task<IResult> Guard(HttpContext http, Func<Task<IResult>> handler)
    {
        try { return await handler(); }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested) { return Results.Empty; }   // the client left: generation stopped
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
