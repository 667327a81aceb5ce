using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans;
using Orleans.Runtime;
using Orleans.Storage;

namespace BitTtt.Orleans;

/// <summary>Healthy while this silo is an active member of its cluster (not joining, not leaving, not declared dead).</summary>
internal sealed class SiloJoinedHealthCheck(ISiloStatusOracle oracle) : IHealthCheck
{
    public const string Name = "orleans-silo";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = oracle.CurrentStatus;
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy($"silo {oracle.SiloAddress} is active in the cluster ({oracle.GetActiveSilos().Length} active)")
            : HealthCheckResult.Unhealthy($"silo {oracle.SiloAddress} is {status}, not an active member of the cluster"));
    }
}

/// <summary>
/// Healthy when the conversation grain storage (<see cref="BitLlamaCluster.StorageName"/>) answers a read within 5 s:
/// a read of a state no conversation uses, so it works with any provider and changes nothing.
/// </summary>
internal sealed class ConversationStorageHealthCheck(IServiceProvider services) : IHealthCheck
{
    public const string Name = "conversation-storage";
    static readonly GrainId s_probe = GrainId.Create("bitllama-health", "storage-probe");

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var storage = services.GetKeyedService<IGrainStorage>(BitLlamaCluster.StorageName);
        if (storage is null)
            return HealthCheckResult.Unhealthy($"no grain storage named '{BitLlamaCluster.StorageName}' is registered on this silo");
        try
        {
            await storage.ReadStateAsync("probe", s_probe, new GrainState<ConversationState>()).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
            return HealthCheckResult.Healthy($"grain storage '{BitLlamaCluster.StorageName}' answers");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"grain storage '{BitLlamaCluster.StorageName}' does not answer: {BitLlamaClusterChatClient.Summary(e)}", e);
        }
    }
}
