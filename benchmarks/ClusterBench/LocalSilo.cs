using System.Net;
using BitTtt.Inference;
using BitTtt.Orleans;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Persistence;
using Orleans.Storage;
using StackExchange.Redis;

namespace ClusterBench;

/// <summary>A silo in this process hosting the conversation grains: Redis membership and storage, Orleans messaging over loopback TCP.</summary>
internal sealed class LocalSilo : IAsyncDisposable
{
    readonly IHost _host;

    LocalSilo(IHost host) => _host = host;

    /// <summary>The cluster chat client of this silo (a co-hosted web app's).</summary>
    public BitLlamaClusterChatClient Chat => _host.Services.GetRequiredService<BitLlamaClusterChatClient>();

    /// <summary>A single-process chat client on this silo's model.</summary>
    public BitTtt.Extensions.AI.BitLlamaChatClient Local => _host.Services.GetRequiredService<Llama>().AsChatClient();

    /// <summary>
    /// The bytes of a conversation's memory file on this model (the same for every conversation of it) and the mean
    /// time of <see cref="LlamaSession.SaveMemory(Stream)"/> into a <see cref="MemoryStream"/> and out as an array (what the grain does).
    /// </summary>
    public (long Bytes, double Ms) MemoryToBytes(int times)
    {
        using var session = _host.Services.GetRequiredService<Llama>().CreateSession();
        session.Learn("Call me Ishmael.");
        long bytes = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < times; i++)
        {
            var stream = new MemoryStream();
            session.SaveMemory(stream);
            bytes = stream.ToArray().Length;
        }
        return (bytes, clock.Elapsed.TotalMilliseconds / times);
    }

    public static async Task<LocalSilo> StartAsync(string model, string redis, string cluster)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddBitLlama(model);
        builder.UseOrleans(silo =>
        {
            silo.ConfigureEndpoints(IPAddress.Loopback, RedisServer.FreePort(), RedisServer.FreePort());
            silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (cluster, cluster));
            silo.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis));
            silo.AddRedisGrainStorage(BitLlamaCluster.StorageName, (OptionsBuilder<RedisStorageOptions> options) => options.Configure<IServiceProvider>((o, services) =>
            {
                o.ConfigurationOptions = ConfigurationOptions.Parse(redis);
                o.GrainStorageSerializer = services.GetRequiredKeyedService<IGrainStorageSerializer>(BitLlamaCluster.BinarySerializerKey);
            }));
            silo.AddBitLlamaConversations();
        });
        builder.Services.AddBitLlamaClusterChatClient();
        var host = builder.Build();
        await host.StartAsync();
        return new LocalSilo(host);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}
