using System.Reflection;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace BitTtt.MLNet;

/// <summary>
/// The MLContext settings a trainer honours, as Microsoft.ML.TorchSharp does: the seed (drawn from the
/// context's random when <c>BitLlamaOptions.Seed</c> is null) and <c>GpuDeviceId</c> / <c>FallbackToCpu</c>.
/// ML.NET keeps the last two on its internal <c>IHostEnvironmentInternal</c>; we read them by reflection
/// (present since ML.NET 1.6). Without that interface the options' <c>Device</c> is used as given.
/// </summary>
internal static class TrainingEnvironment
{
    /// <summary>ML.NET's pattern for an unset seed: one draw from the host's random, which <c>new MLContext(seed: n)</c> makes deterministic.</summary>
    public static int Seed(IHost host, int? seed) => seed ?? host.Rand.Next();

    /// <summary>
    /// The device to train on. <c>MLContext.GpuDeviceId</c> set (and the options' Device left at "cpu"):
    /// <c>cuda:N</c> when CUDA is available, else the CPU when <c>FallbackToCpu</c>, else an error before anything trains.
    /// </summary>
    public static string Device(IHostEnvironment env, string device, IChannel channel)
    {
        var (gpu, fallback) = GpuSettings(env);
        if (gpu is not { } id || !device.Trim().Equals("cpu", StringComparison.OrdinalIgnoreCase)) return device;
        if (cuda.is_available()) return $"cuda:{id}";
        if (fallback)
        {
            MlHost.Info(channel, $"MLContext.GpuDeviceId = {id}, but CUDA is not available: training on the CPU (MLContext.FallbackToCpu = true).");
            return "cpu";
        }
        throw new InvalidOperationException(
            $"MLContext.GpuDeviceId = {id} asks for a GPU, but CUDA is not available (this app carries the CPU libtorch backend) and MLContext.FallbackToCpu is false. " +
            "Set FallbackToCpu = true to train on the CPU, or build with -p:TorchBackend=cuda-linux on a machine with CUDA.");
    }

    static (int? GpuDeviceId, bool FallbackToCpu) GpuSettings(IHostEnvironment env)
    {
        var contract = env.GetType().GetInterfaces().FirstOrDefault(i => i.FullName == "Microsoft.ML.Runtime.IHostEnvironmentInternal");
        if (contract is null) return (null, false);
        var gpu = contract.GetProperty("GpuDeviceId", BindingFlags.Instance | BindingFlags.Public)?.GetValue(env) as int?;
        var fallback = contract.GetProperty("FallbackToCpu", BindingFlags.Instance | BindingFlags.Public)?.GetValue(env) as bool? ?? false;
        return (gpu, fallback);
    }
}
