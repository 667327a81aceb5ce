using BitTtt.Extensions.AI;
using BitTtt.Inference;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers BitLlama for dependency injection.</summary>
public static class BitLlamaServiceCollectionExtensions
{
    /// <summary>Registers the model at <paramref name="modelPath"/> (see the Action overload).</summary>
    public static IServiceCollection AddBitLlama(this IServiceCollection services, string modelPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        return services.AddBitLlama(o => o.ModelPath = modelPath);
    }

    /// <summary>Registers BitLlama with settings bound from <paramref name="section"/> (e.g. <c>configuration.GetSection("BitLlama")</c>).</summary>
    public static IServiceCollection AddBitLlama(this IServiceCollection services, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        services.AddOptions<BitLlamaServiceOptions>().Bind(section);
        return services.AddBitLlamaCore();
    }

    /// <summary>
    /// Registers, as singletons: the <see cref="Llama"/> model (loaded on first use from
    /// <see cref="BitLlamaServiceOptions.ModelPath"/>, disposed with the container, its prefix cache on as
    /// <see cref="BitLlamaServiceOptions.PrefixCacheEntries"/> says), the
    /// <see cref="BitLlamaChatClient"/> and it as <see cref="IChatClient"/> and <see cref="IBitLlamaConversations"/>. Existing
    /// registrations of these types are kept.
    /// </summary>
    public static IServiceCollection AddBitLlama(this IServiceCollection services, Action<BitLlamaServiceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<BitLlamaServiceOptions>().Configure(configure);
        return services.AddBitLlamaCore();
    }

    /// <summary>
    /// Registers the chat client over a model that <paramref name="model"/> provides (e.g. the one an ML.NET
    /// registration loaded: <c>sp =&gt; sp.GetRequiredService&lt;BitLlamaTransformer&gt;().Model</c>, so chat and
    /// predictions share the weights), with the other settings from <paramref name="configure"/>; ModelPath is not used.
    /// Registers that model as the <see cref="Llama"/> singleton unless one is registered already.
    /// </summary>
    public static IServiceCollection AddBitLlama(this IServiceCollection services, Func<IServiceProvider, Llama> model,
        Action<BitLlamaServiceOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(model);
        services.TryAddSingleton<Llama>(model);
        services.AddOptions<BitLlamaServiceOptions>().Configure(configure ?? (_ => { }));
        return services.AddBitLlamaCore();
    }

    static IServiceCollection AddBitLlamaCore(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<BitLlamaServiceOptions>>().Value;
            options.Validate();
            return options.LoadModel();
        });
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<BitLlamaServiceOptions>>().Value;
            options.Validate();
            var model = sp.GetRequiredService<Llama>();
            options.ApplyPrefixCache(model);
            return new BitLlamaChatClient(model, options.ToChatClientOptions(model));
        });
        services.TryAddSingleton<IChatClient>(sp => sp.GetRequiredService<BitLlamaChatClient>());
        services.TryAddSingleton<IBitLlamaConversations>(sp => sp.GetRequiredService<BitLlamaChatClient>());
        return services;
    }
}
