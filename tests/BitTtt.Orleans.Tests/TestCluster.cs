using BitTtt.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Configuration;
using Microsoft.Extensions.Options;
using Orleans.Hosting;
using Orleans.Persistence;
using Orleans.Runtime;
using Orleans.Storage;
using Orleans.TestingHost;
using StackExchange.Redis;

namespace BitTtt.Orleans.Tests;

/// <summary>
/// Orleans' in-process test cluster (silos in this process, in-memory messaging) whose conversation grains store their
/// memory in a real redis-server, each silo loading the model as a web app's copy would.
/// </summary>
internal sealed class TestCluster : IAsyncDisposable
{
    TestCluster(InProcessTestCluster cluster, RedisServer redis, string model) => (Cluster, Redis, Model) = (cluster, redis, model);

    public InProcessTestCluster Cluster { get; }
    public RedisServer Redis { get; }
    public string Model { get; }

    public static async Task<TestCluster> StartAsync(string model, short silos = 2, TimeSpan? idleTimeout = null)
    {
        var redis = await RedisServer.StartAsync();
        var builder = new InProcessTestClusterBuilder(silos);
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSiloHost((_, host) => host.Services.AddBitLlama(model));
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddRedisGrainStorage(BitLlamaCluster.StorageName, (OptionsBuilder<RedisStorageOptions> options) => options.Configure<IServiceProvider>((o, services) =>
            {
                // A stopped Redis fails a command after the timeout (the client queues it meanwhile): 1 s keeps the outage tests short.
                o.ConfigurationOptions = ConfigurationOptions.Parse($"{redis.Endpoint},asyncTimeout=1000,syncTimeout=1000");
                o.GrainStorageSerializer = services.GetRequiredKeyedService<IGrainStorageSerializer>(BitLlamaCluster.BinarySerializerKey);
            }));
            silo.AddBitLlamaConversations(o => o.IdleTimeout = idleTimeout ?? TimeSpan.FromMinutes(5));
            if (idleTimeout is { } idle)
                silo.Services.Configure<GrainCollectionOptions>(o => o.CollectionQuantum = idle / 2);
            silo.Services.AddBitLlamaClusterChatClient(o => o.FailoverTimeout = TimeSpan.FromSeconds(30));
            silo.Services.AddHealthChecks().AddBitLlamaCluster();
        });
        var cluster = builder.Build();
        try
        {
            await cluster.DeployAsync();
        }
        catch
        {
            await cluster.DisposeAsync();
            await redis.DisposeAsync();
            throw;
        }
        return new TestCluster(cluster, redis, model);
    }

    /// <summary>A cluster chat client as an Orleans client uses it (through a gateway).</summary>
    public BitLlamaClusterChatClient Client(BitLlamaClusterChatClientOptions? options = null) =>
        new(Cluster.Client, options ?? new BitLlamaClusterChatClientOptions { FailoverTimeout = TimeSpan.FromSeconds(30) });

    /// <summary>The chat client registered on a silo (as a co-hosted web app's endpoints get it).</summary>
    public BitLlamaClusterChatClient SiloClient(int silo) =>
        Cluster.GetSiloServiceProvider(Cluster.Silos[silo].SiloAddress).GetRequiredService<BitLlamaClusterChatClient>();

    /// <summary>The conversation as grain storage holds it now (read straight from the silo's storage provider).</summary>
    public async Task<ConversationState> StoredAsync(string conversationId)
    {
        var storage = Cluster.GetSiloServiceProvider().GetRequiredKeyedService<IGrainStorage>(BitLlamaCluster.StorageName);
        var state = new GrainState<ConversationState>();
        await storage.ReadStateAsync("conversation", GrainId.Create("bitllama-conversation", conversationId), state);
        return state.RecordExists && state.State is { } stored ? stored : new ConversationState();
    }

    /// <summary>How many conversations each silo holds now.</summary>
    public int[] LiveConversations() => Cluster.Silos.Select(s =>
        Cluster.GetSiloServiceProvider(s.SiloAddress).GetRequiredService<ConversationActivations>().Count).ToArray();

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
