using BitTtt.Extensions.AI;
using BitTtt.Inference;
using BitTtt.MLNet;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.ML;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Dependency injection for the ML.NET side of BitLlama.</summary>
public static class BitLlamaMLNetServiceCollectionExtensions
{
    /// <summary>
    /// Registers a <see cref="BitLlamaPredictionEnginePool{TIn, TOut}"/> (singleton) over the <c>.bitt</c> at
    /// <see cref="BitLlamaServiceOptions.ModelPath"/>, for handlers that predict through ML.NET rows. Call after
    /// <c>AddBitLlama(...)</c>: the model is then loaded once, as a <see cref="BitLlamaTransformer"/> whose engine is
    /// also the registered <see cref="Llama"/> (so the chat client and the pool share the weights). An
    /// <see cref="MLContext"/> singleton is added if none is registered.
    /// </summary>
    public static IServiceCollection AddBitLlamaPredictionEnginePool<TIn, TOut>(this IServiceCollection services, int maximumRetained = 0)
        where TIn : class
        where TOut : class, new()
    {
        ArgumentNullException.ThrowIfNull(services);
        if (!services.Any(d => d.ServiceType == typeof(IConfigureOptions<BitLlamaServiceOptions>)))
            throw new InvalidOperationException("AddBitLlamaPredictionEnginePool: call services.AddBitLlama(...) first (it holds the model path)");
        services.TryAddSingleton(_ => new MLContext());
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<BitLlamaServiceOptions>>().Value;
            options.Validate();
            if (!File.Exists(options.ModelPath))
                throw new FileNotFoundException($"{BitLlamaServiceOptions.SectionName}:ModelPath '{options.ModelPath}' does not exist (the prediction-engine pool needs a .bitt file)", options.ModelPath);
            return sp.GetRequiredService<MLContext>().Model.LoadBitt(options.ModelPath);
        });
        services.Replace(ServiceDescriptor.Singleton(sp => sp.GetRequiredService<BitLlamaTransformer>().Model));
        services.TryAddSingleton(sp => sp.GetRequiredService<MLContext>().Model.CreatePredictionEnginePool<TIn, TOut>(
            sp.GetRequiredService<BitLlamaTransformer>(), maximumRetained));
        return services;
    }
}
