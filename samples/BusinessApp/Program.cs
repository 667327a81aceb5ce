// BitLlama behind an ASP.NET Core minimal API: our completion and chat endpoints (JSON or SSE, conversation memory),
// the OpenAI wire format, health checks, OpenTelemetry, a graceful stop on SIGTERM, and cluster mode (conversations in
// Orleans grains on Redis, docs/cluster.md).
// Run: dotnet run --project samples/BusinessApp -c Release -- --model PATH --urls http://127.0.0.1:5080
using BitTtt.Samples.BusinessApp;

WebApplication app;
try
{
    app = BusinessApi.Build(args);
}
catch (Exception e) when (e is InvalidOperationException or IOException or BitTtt.BitLlamaFormatException or ArgumentException)
{
    Console.Error.WriteLine($"BusinessApp: {e.Message}");
    return 2;
}
app.Run();
return 0;

namespace BitTtt.Samples.BusinessApp
{
    public static partial class BusinessApi
    {
        /// <summary>
        /// The app from command-line arguments (<c>--model PATH</c> is <c>BitLlama:ModelPath</c>; <c>--urls</c> and
        /// <c>--Section:Key=value</c> as in any ASP.NET Core app) and appsettings.json: each part registers its services
        /// and maps its endpoints from its own file, one line each here. Loads the model now, so a bad path fails here
        /// with a message naming <c>BitLlama:ModelPath</c>. <paramref name="configure"/> runs last before the build (tests
        /// add a log sink there).
        /// </summary>
        public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
        {
            var builder = CreateBuilder(args);
            builder.AddChatServices();        // BusinessApi.cs: the model, IChatClient, limits, error shapes
            builder.AddClusterMode(args);     // ClusterHosting.cs: --cluster: conversations in Orleans grains, not this process
            builder.AddOpenAiApi();           // OpenAiEndpoints.cs: OpenAI's error shape for unexpected errors too
            builder.AddGracefulShutdown();    // GracefulShutdown.cs: SIGTERM stops generations after a grace period
            builder.AddObservability();       // Observability.cs: OpenTelemetry metrics and traces, OTLP, Prometheus
            builder.AddHealthEndpoints();     // HealthEndpoints.cs: /health (live), /health/ready (model loaded, ...)
            configure?.Invoke(builder);

            var app = builder.Build();
            app.UseApiErrors();               // BusinessApi.cs: 500s without stack traces, 429s in each API's shape
            app.MapBusinessApi();             // BusinessApi.cs: /v1/complete, /v1/chat, /v1/conversations/{id}
            app.MapOpenAiApi();               // OpenAiEndpoints.cs: /v1/chat/completions, /v1/completions, /v1/models
            app.MapObservability();           // Observability.cs: /metrics
            app.MapHealthEndpoints();         // HealthEndpoints.cs
            app.StartServices();              // BusinessApi.cs: load the model now: fail at start, not on the first request
            return app;
        }
    }
}
