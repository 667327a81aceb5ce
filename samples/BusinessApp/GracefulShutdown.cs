using Microsoft.Extensions.Options;

namespace BitTtt.Samples.BusinessApp;

/// <summary>
/// How the app stops (SIGTERM, Ctrl+C, <see cref="IHostApplicationLifetime.StopApplication"/>): Kestrel stops taking
/// connections and waits for the requests it has; generations still running <see cref="ApiLimits.ShutdownGracePeriod"/>
/// later are cancelled, so each ends with a final event (a stream) or a 503 (a plain request) saying why, and the process
/// exits 0. The host's <see cref="HostOptions.ShutdownTimeout"/> is the grace period plus <see cref="FinalEventsTime"/>,
/// so those last answers are sent before the host gives up on the requests.
/// </summary>
public sealed partial class GenerationShutdown : IDisposable
{
    /// <summary>Time after the grace period for cancelled generations to send their final events.</summary>
    public static readonly TimeSpan FinalEventsTime = TimeSpan.FromSeconds(5);

    readonly CancellationTokenSource _stop = new();

    public GenerationShutdown(IHostApplicationLifetime lifetime, IOptions<ApiLimits> limits, GenerationStats stats, ILogger<GenerationShutdown> logger)
    {
        Grace = limits.Value.ShutdownGracePeriod;
        lifetime.ApplicationStopping.Register(() =>
        {
            IsStopping = true;
            LogStopping(logger, stats.ActiveGenerations, Grace.TotalSeconds);
            _stop.Token.Register(() => LogCancelling(logger, stats.ActiveGenerations));
            if (Grace == TimeSpan.Zero) _stop.Cancel();
            else _stop.CancelAfter(Grace);
        });
    }

    public TimeSpan Grace { get; }
    /// <summary>True once the app was asked to stop (readiness then fails).</summary>
    public bool IsStopping { get; private set; }
    /// <summary>Cancelled when the grace period is over.</summary>
    public CancellationToken Stopped => _stop.Token;
    /// <summary>What a generation stopped by the shutdown tells its client.</summary>
    public string Reason => $"the server is shutting down; generations still running {Grace.TotalSeconds:0.###} s after it was asked to stop were stopped";

    /// <summary>The token a request's generation runs with: cancelled when the client leaves or the grace period ends.</summary>
    public CancellationTokenSource Link(HttpContext http) => CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, _stop.Token);

    public void Dispose() => _stop.Dispose();

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "Stopping: {Active} generations running get {GraceSeconds} s to finish (Api:ShutdownGracePeriod)")]
    static partial void LogStopping(ILogger logger, int active, double graceSeconds);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "Grace period over: stopping the {Active} generations still running")]
    static partial void LogCancelling(ILogger logger, int active);
}

public static class GracefulShutdownExtensions
{
    /// <summary>Registers <see cref="GenerationShutdown"/> and sets the host's shutdown timeout to the grace period plus time for the final events.</summary>
    public static void AddGracefulShutdown(this WebApplicationBuilder builder)
    {
        var grace = (builder.Configuration.GetSection(ApiLimits.SectionName).Get<ApiLimits>() ?? new ApiLimits()).ShutdownGracePeriod;
        builder.Services.AddSingleton<GenerationShutdown>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = grace + GenerationShutdown.FinalEventsTime);
    }
}
