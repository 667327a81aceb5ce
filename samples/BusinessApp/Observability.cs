using BitTtt.Inference.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace BitTtt.Samples.BusinessApp;

/// <summary>
/// OpenTelemetry for the app: the library's meter and activity source (<see cref="BitLlamaTelemetry.Name"/>, "BitTtt")
/// and ASP.NET Core's own, exported to a Prometheus scrape endpoint at <c>GET /metrics</c> and, when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (environment or configuration, with OpenTelemetry's other <c>OTEL_*</c>
/// settings such as <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>), over OTLP: metrics, traces and logs.
/// </summary>
public static class Observability
{
    public static void AddObservability(this WebApplicationBuilder builder)
    {
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r =>
            {
                if (string.IsNullOrWhiteSpace(builder.Configuration["OTEL_SERVICE_NAME"])) r.AddService("BusinessApp");
            })
            .WithMetrics(m => m.AddMeter(BitLlamaTelemetry.Name).AddAspNetCoreInstrumentation().AddPrometheusExporter())
            .WithTracing(t => t.AddSource(BitLlamaTelemetry.Name).AddAspNetCoreInstrumentation());
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])) otel.UseOtlpExporter();
    }

    public static void MapObservability(this WebApplication app) => app.MapPrometheusScrapingEndpoint("/metrics");
}
