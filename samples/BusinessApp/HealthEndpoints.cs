using System.Text.Json;
using BitTtt.Extensions.AI;
using BitTtt.Inference;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace BitTtt.Samples.BusinessApp;

/// <summary>
/// ASP.NET Core health checks. <c>GET /health</c> is liveness: the process answers (no check runs). <c>GET
/// /health/ready</c> runs every check tagged <see cref="ReadyTag"/>: here the model is loaded and the app is not stopping;
/// a host that adds parts registers more (a cluster: silo joined, storage reachable) with
/// <c>services.AddHealthChecks().AddCheck(..., tags: [HealthEndpoints.ReadyTag])</c>. Both answer JSON
/// (<c>{"status", "checks": {name: {"status", "description", "data"}}}</c>) with 200 when healthy, 503 when not.
/// </summary>
public static class HealthEndpoints
{
    /// <summary>The tag of the checks <c>/health/ready</c> runs.</summary>
    public const string ReadyTag = "ready";

    public static void AddHealthEndpoints(this WebApplicationBuilder builder) =>
        builder.Services.AddHealthChecks().AddCheck<ModelReadyCheck>("model", tags: [ReadyTag]);

    public static void MapHealthEndpoints(this WebApplication app)
    {
        app.MapHealthChecks("/health", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteJson });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag), ResponseWriter = WriteJson });
    }

    static Task WriteJson(HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description, data = e.Value.Data }),
        };
        return http.Response.WriteAsync(JsonSerializer.Serialize(body, JsonSerializerOptions.Web), http.RequestAborted);
    }

    /// <summary>Ready when the model is loaded (and not disposed) and the app is not stopping; data: the model and what runs.</summary>
    sealed class ModelReadyCheck(Llama model, IChatClient chat, IBitLlamaConversations conversations, GenerationStats stats, GenerationShutdown shutdown) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var data = new Dictionary<string, object>
            {
                ["model"] = chat.GetService<ChatClientMetadata>()?.DefaultModelId ?? "",
                ["activeGenerations"] = stats.ActiveGenerations,
                ["liveConversations"] = conversations.LiveConversations,
            };
            if (model.PrefixCache is { } cache) data["prefixCacheEntries"] = cache.Count;
            var result = model.IsDisposed ? HealthCheckResult.Unhealthy("the model is disposed", data: data)
                : shutdown.IsStopping ? HealthCheckResult.Unhealthy("the app is stopping", data: data)
                : HealthCheckResult.Healthy("the model is loaded", data);
            return Task.FromResult(result);
        }
    }
}
