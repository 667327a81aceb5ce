using BitTtt.MLNet;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.ML;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Dependency injection for the ML.NET side of BitLlama.</summary>
public static class BitLlamaMLNetServiceCollectionExtensions
{
    /// <summary>
    /// Registers, as singletons: the <see cref="BitLlamaTransformer"/> loaded on first use from
    /// <paramref name="modelPath"/> (a <c>.bitt</c> file or model directory; relative to the current directory; disposed
    /// with the container) and a <see cref="BitLlamaPredictionEnginePool{TIn, TOut}"/> over it, for handlers that predict
    /// through ML.NET rows. An <see cref="MLContext"/> singleton is added if none is registered. Nothing else is
    /// registered: for a chat client over the same weights, give BitTtt.Extensions.AI the transformer's model,
    /// <c>services.AddBitLlama(sp =&gt; sp.GetRequiredService&lt;BitLlamaTransformer&gt;().Model)</c>.
    /// </summary>
    public static IServiceCollection AddBitLlamaPredictionEnginePool<TIn, TOut>(this IServiceCollection services, string modelPath, int maximumRetained = 0)
        where TIn : class
        where TOut : class, new()
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        ArgumentOutOfRangeException.ThrowIfNegative(maximumRetained);
        services.TryAddSingleton(_ => new MLContext());
        services.TryAddSingleton(sp =>
        {
            if (!File.Exists(modelPath) && !Directory.Exists(modelPath))
                throw new FileNotFoundException($"AddBitLlamaPredictionEnginePool: the model '{modelPath}' does not exist ({Path.GetFullPath(modelPath)}; expected a .bitt file or a model directory)", modelPath);
            return sp.GetRequiredService<MLContext>().Model.LoadBitt(modelPath);
        });
        services.TryAddSingleton(sp => sp.GetRequiredService<MLContext>().Model.CreatePredictionEnginePool<TIn, TOut>(
            sp.GetRequiredService<BitLlamaTransformer>(), maximumRetained));
        return services;
    }
}
