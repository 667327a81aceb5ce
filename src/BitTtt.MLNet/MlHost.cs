using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace BitTtt.MLNet;

/// <summary>
/// The MLContext environment behind a catalog. ML.NET exposes it only through the internal
/// <c>IInternalCatalog.Environment</c>; catalog extension methods receive just the catalog, so we read that
/// property by reflection (stable since ML.NET 1.0). Messages sent through it reach <c>MLContext.Log</c>
/// with <c>Source = "BitLlama; Fit"</c>.
/// </summary>
internal static class MlHost
{
    public static IHostEnvironment Environment(object catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        if (catalog is IHostEnvironment env) return env;
        var property = catalog.GetType().GetInterfaces()
            .Where(i => i.FullName == "Microsoft.ML.Data.IInternalCatalog")
            .Select(i => i.GetProperty("Environment", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            .FirstOrDefault(p => p is not null);
        return property?.GetValue(catalog) as IHostEnvironment
            ?? throw new InvalidOperationException(
                $"Cannot reach the MLContext behind {catalog.GetType().Name} in this ML.NET version (expected IInternalCatalog.Environment).");
    }

    /// <summary>A TransformsCatalog on an environment (its constructor is internal; a fresh MLContext otherwise).</summary>
    public static TransformsCatalog Transforms(IHostEnvironment env)
    {
        var ctor = typeof(TransformsCatalog).GetConstructor(BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public, [typeof(IHostEnvironment)]);
        return ctor?.Invoke([env]) as TransformsCatalog ?? new MLContext().Transforms;
    }

    public static IHost Host(IHostEnvironment env) => env.Register("BitLlama");

    public static void Info(IChannel channel, string message) => channel.Info(MessageSensitivity.None, message);

    public static void Warning(IChannel channel, string message) => channel.Warning(MessageSensitivity.None, message);
}
