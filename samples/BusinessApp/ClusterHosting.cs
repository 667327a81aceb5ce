using System.Net;
using BitTtt.Extensions.AI;
using BitTtt.Orleans;
using Microsoft.AspNetCore.Diagnostics;
using Orleans.Configuration;
using Orleans.Hosting;

namespace BitTtt.Samples.BusinessApp;

/// <summary>
/// Cluster mode (docs/cluster.md). With <c>--cluster HOST:PORT</c> (<c>BitLlama:Cluster</c>: a Redis endpoint, in
/// StackExchange.Redis' configuration syntax) the app co-hosts an Orleans silo that uses Redis for membership and for
/// the conversations' grain storage; with an <c>Orleans:Clustering</c> section instead, the providers are whatever
/// that Orleans configuration names (its <c>Orleans:GrainStorage:bitllama</c> section then names the storage). The
/// endpoints are unchanged: the <see cref="Microsoft.Extensions.AI.IChatClient"/> and <see cref="IBitLlamaConversations"/>
/// behind them (ours and the OpenAI-compatible ones) become the cluster's, so any copy of the app serves any
/// conversation; <c>/health/ready</c> adds the silo's and the storage's checks. Without either, nothing here runs and
/// the app keeps its conversations in its own process.
/// <para>Settings (command line or configuration): <c>--silo-port</c> (<c>BitLlama:SiloPort</c>, default 11111) and
/// <c>--gateway-port</c> (<c>BitLlama:GatewayPort</c>, 30000) for Orleans' own traffic; <c>--silo-address</c>
/// (<c>BitLlama:SiloAddress</c>) the IP other silos reach this one at (default: Orleans picks this host's address);
/// <c>BitLlama:IdleTimeout</c> and <c>BitLlama:FailoverTimeout</c> (see <see cref="BitLlamaClusterOptions"/> and
/// <see cref="BitLlamaClusterChatClientOptions"/>); <c>Orleans:ClusterId</c> / <c>Orleans:ServiceId</c> (default
/// "bitllama"), <c>Orleans:Membership:*</c> (<see cref="ClusterMembershipOptions"/>, failure detection) and
/// <c>Orleans:GrainCollection:*</c> as Orleans defines them.</para>
/// </summary>
public static class ClusterHosting
{
    public const string ClusterKey = "BitLlama:Cluster", SiloPortKey = "BitLlama:SiloPort", GatewayPortKey = "BitLlama:GatewayPort",
        SiloAddressKey = "BitLlama:SiloAddress";

    static readonly Dictionary<string, string> Switches = new()
    {
        ["--cluster"] = ClusterKey, ["--silo-port"] = SiloPortKey, ["--gateway-port"] = GatewayPortKey, ["--silo-address"] = SiloAddressKey,
    };

    /// <summary>Turns on cluster mode when the configuration asks for it (see the class); a bad setting throws naming its key.</summary>
    public static void AddClusterMode(this WebApplicationBuilder builder, string[] args)
    {
        var config = builder.Configuration;
        config.AddCommandLine(args, Switches);
        string? redis = config[ClusterKey];
        if (string.IsNullOrWhiteSpace(redis) && !config.GetSection("Orleans:Clustering").Exists()) return;
        int siloPort = Port(config, SiloPortKey, 11111), gatewayPort = Port(config, GatewayPortKey, 30000);
        if (siloPort == gatewayPort) throw new InvalidOperationException($"{SiloPortKey} and {GatewayPortKey} are both {siloPort}; give them different ports");
        IPAddress? address = null;
        if (config[SiloAddressKey] is { Length: > 0 } text && !IPAddress.TryParse(text, out address))
            throw new InvalidOperationException($"{SiloAddressKey} '{text}' is not an IP address (the address other silos reach this one at, e.g. 10.0.0.5)");
        var defaults = new Dictionary<string, string?>();
        if (config["Orleans:ClusterId"] is null) defaults["Orleans:ClusterId"] = "bitllama";
        if (config["Orleans:ServiceId"] is null) defaults["Orleans:ServiceId"] = "bitllama";
        if (!string.IsNullOrWhiteSpace(redis)) RedisProviders(redis, defaults);
        config.AddInMemoryCollection(defaults);

        builder.UseOrleans(silo =>
        {
            if (address is null) silo.ConfigureEndpoints(siloPort, gatewayPort);
            else silo.ConfigureEndpoints(address, siloPort, gatewayPort);
            silo.Services.Configure<ClusterMembershipOptions>(config.GetSection("Orleans:Membership"));
            silo.Services.Configure<GrainCollectionOptions>(config.GetSection("Orleans:GrainCollection"));
            silo.AddBitLlamaConversations(o => config.GetSection(BitLlamaServiceOptions.SectionName).Bind(o));
        });
        builder.Services.AddBitLlamaClusterChatClient(o => config.GetSection(BitLlamaServiceOptions.SectionName).Bind(o));
        builder.Services.AddOptions<BitLlamaClusterChatClientOptions>()
            .PostConfigure<BitLlamaChatClient>((o, local) => o.ModelId ??= local.Metadata.DefaultModelId);
        builder.Services.AddHealthChecks().AddBitLlamaCluster(HealthEndpoints.ReadyTag);
        builder.Services.AddExceptionHandler<ConversationUnavailableHandler>();
    }

    /// <summary>Orleans' own configuration for Redis membership and the conversations' storage (binary serializer) at <paramref name="redis"/>.</summary>
    static void RedisProviders(string redis, Dictionary<string, string?> settings)
    {
        try
        {
            if (StackExchange.Redis.ConfigurationOptions.Parse(redis).EndPoints.Count == 0) throw new ArgumentException("no endpoint");
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"{ClusterKey} '{redis}' is not a Redis endpoint: expected HOST:PORT (StackExchange.Redis syntax) ({e.Message})", e);
        }
        settings["Orleans:Clustering:ProviderType"] = "Redis";
        settings["Orleans:Clustering:ConnectionString"] = redis;
        string storage = $"Orleans:GrainStorage:{BitLlamaCluster.StorageName}";
        settings[$"{storage}:ProviderType"] = "Redis";
        settings[$"{storage}:ConnectionString"] = redis;
        settings[$"{storage}:SerializerKey"] = BitLlamaCluster.BinarySerializerKey;
    }

    static int Port(IConfiguration config, string key, int fallback)
    {
        string? text = config[key];
        if (text is null) return fallback;
        return int.TryParse(text, out int port) && port is > 0 and <= 65535 ? port
            : throw new InvalidOperationException($"{key} must be a TCP port (1-65535), got '{text}'");
    }

    /// <summary>
    /// The cluster cannot serve a conversation now (storage down, its silo gone): 503 with Retry-After, never a 500. The
    /// OpenAI-compatible endpoints never meet it: their chats are one-shot, which the cluster client runs on this silo's model.
    /// </summary>
    sealed class ConversationUnavailableHandler : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
        {
            if (exception is not ConversationUnavailableException e) return false;
            http.Response.Headers.RetryAfter = "1";
            await Results.Problem(detail: e.Message, statusCode: StatusCodes.Status503ServiceUnavailable,
                extensions: new Dictionary<string, object?> { ["field"] = "conversationId" }).ExecuteAsync(http);
            return true;
        }
    }
}
