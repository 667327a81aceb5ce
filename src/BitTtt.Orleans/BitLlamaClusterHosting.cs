using BitTtt.Extensions.AI;
using BitTtt.Orleans;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;

// In the namespace of the builders they extend, as Orleans' own extensions are.
namespace Orleans.Hosting
{
    /// <summary>Adds BitLlama's conversation grains to a silo.</summary>
    public static class BitLlamaSiloBuilderExtensions
    {
        /// <summary>
        /// Hosts the conversation grains on this silo. They need, in the same services: the model and its chat client
        /// (<c>services.AddBitLlama(...)</c>: every silo of a cluster must load the same model), and a grain storage named
        /// <see cref="BitLlamaCluster.StorageName"/> from any Orleans provider. Registers the binary storage serializer
        /// under <see cref="BitLlamaCluster.BinarySerializerKey"/> and the idle timeout as the grains' collection age.
        /// </summary>
        public static ISiloBuilder AddBitLlamaConversations(this ISiloBuilder silo, Action<BitLlamaClusterOptions>? configure = null)
        {
            ArgumentNullException.ThrowIfNull(silo);
            var options = silo.Services.AddOptions<BitLlamaClusterOptions>();
            if (configure is not null) options.Configure(configure);
            silo.Services.TryAddSingleton<ConversationActivations>();
            silo.Services.AddOptions<GrainCollectionOptions>().Configure<IOptions<BitLlamaClusterOptions>>((collection, bitllama) =>
                collection.ClassSpecificCollectionAge[typeof(ConversationGrain).FullName!] = bitllama.Value.IdleTimeout);
            silo.Services.TryAddKeyedSingleton<IGrainStorageSerializer>(BitLlamaCluster.BinarySerializerKey,
                (services, _) => new OrleansGrainStorageSerializer(services.GetRequiredService<Serializer>()));
            return silo;
        }
    }
}

namespace Microsoft.Extensions.DependencyInjection
{
    /// <summary>Registers the cluster chat client and the cluster's health checks.</summary>
    public static class BitLlamaClusterServiceCollectionExtensions
    {
        /// <summary>
        /// Registers <see cref="BitLlamaClusterChatClient"/> (over the host's <see cref="IGrainFactory"/>) as the
        /// <see cref="IChatClient"/> and <see cref="IBitLlamaConversations"/>, replacing the single-process client
        /// that <c>AddBitLlama</c> registers for them (which the grains still use to format turns, and the cluster client
        /// to run one-off calls, which keep no conversation).
        /// </summary>
        public static IServiceCollection AddBitLlamaClusterChatClient(this IServiceCollection services, Action<BitLlamaClusterChatClientOptions>? configure = null)
        {
            ArgumentNullException.ThrowIfNull(services);
            var options = services.AddOptions<BitLlamaClusterChatClientOptions>();
            if (configure is not null) options.Configure(configure);
            services.TryAddSingleton(sp => new BitLlamaClusterChatClient(sp.GetRequiredService<IGrainFactory>(),
                sp.GetRequiredService<IOptions<BitLlamaClusterChatClientOptions>>().Value, sp.GetService<ConversationActivations>(),
                sp.GetService<BitLlamaChatClient>()));
            services.Replace(ServiceDescriptor.Singleton<IChatClient>(sp => sp.GetRequiredService<BitLlamaClusterChatClient>()));
            services.Replace(ServiceDescriptor.Singleton<IBitLlamaConversations>(sp => sp.GetRequiredService<BitLlamaClusterChatClient>()));
            return services;
        }

        /// <summary>
        /// Adds two checks for a silo hosting the conversation grains: <c>orleans-silo</c> (this silo has joined the
        /// cluster and is active) and <c>conversation-storage</c> (the grain storage answers a read), tagged
        /// <paramref name="tags"/> (default "ready", for a readiness endpoint).
        /// </summary>
        public static IHealthChecksBuilder AddBitLlamaCluster(this IHealthChecksBuilder builder, params string[] tags)
        {
            ArgumentNullException.ThrowIfNull(builder);
            string[] on = tags is { Length: > 0 } ? tags : ["ready"];
            builder.AddCheck<SiloJoinedHealthCheck>(SiloJoinedHealthCheck.Name, HealthStatus.Unhealthy, on);
            builder.AddCheck<ConversationStorageHealthCheck>(ConversationStorageHealthCheck.Name, HealthStatus.Unhealthy, on);
            return builder;
        }
    }
}
