using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;

namespace BitTtt.Samples.BusinessApp;

/// <summary>Marks the endpoints that speak the OpenAI wire format, so shared middleware (429, 500) answers in its error shape.</summary>
public sealed class OpenAiApiMetadata
{
    public static readonly OpenAiApiMetadata Instance = new();
}

/// <summary>A request the OpenAI endpoints refuse: the status, and the error's message, param, code and type.</summary>
public sealed class OpenAiException(int status, string message, string? param, string? code = null, string? type = null) : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    /// <summary>OpenAI's error type: <c>invalid_request_error</c> for 4xx, <c>requests</c> for 429, <c>server_error</c> for 5xx.</summary>
    public string Type { get; } = type ?? (status >= 500 ? "server_error" : "invalid_request_error");

    public OpenAiError Body => new(new OpenAiErrorBody(Message, Type, Param, Code));
}

/// <summary>
/// Writes OpenAI's error shape, and turns unexpected exceptions on OpenAI endpoints into a 500 in that shape. The
/// exception handler middleware does not log what an <see cref="IExceptionHandler"/> handled, so this logs it: an
/// unexpected error keeps its stack trace in the log (never in the response).
/// </summary>
internal sealed partial class OpenAiErrors(ILogger<OpenAiErrors> logger) : IExceptionHandler
{
    public static Task Write(HttpContext http, OpenAiException e)
    {
        http.Response.StatusCode = e.Status;
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(JsonSerializer.Serialize(e.Body, OpenAiEndpoints.Json), http.RequestAborted);
    }

    /// <summary>An unexpected error on an OpenAI endpoint: a bare 500 in OpenAI's shape (logged by the exception handler, never sent).</summary>
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
    {
        // The middleware has cleared the request's endpoint by now; the feature keeps the one that failed.
        var endpoint = http.Features.Get<IExceptionHandlerFeature>()?.Endpoint;
        if (endpoint?.Metadata.GetMetadata<OpenAiApiMetadata>() is null || http.Response.HasStarted) return false;
        LogUnexpected(logger, exception, http.Request.Path);
        await Write(http, new OpenAiException(StatusCodes.Status500InternalServerError, "the server had an error while processing the request", null));
        return true;
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Error, Message = "Unexpected error answering {Path}")]
    static partial void LogUnexpected(ILogger logger, Exception exception, string path);
}
