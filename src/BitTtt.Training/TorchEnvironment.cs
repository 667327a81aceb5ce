using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BitTtt.Training;

/// <summary>
/// Native environment settings libtorch's OpenMP runtime must see before it loads.
/// <para>
/// libgomp (bundled with libtorch on Linux) spin-waits its worker threads between parallel regions by default.
/// On a machine where another process is busy, the spinning workers and the busy process fight for the same
/// cores and 2-thread training ran 10× slower (17-21k tok/s → 1.4k, docs/benchmarks.md). With
/// <c>OMP_WAIT_POLICY=PASSIVE</c> the workers sleep instead, and the slowdown disappears. libgomp reads the
/// variable once, with libc <c>getenv</c>, when libtorch is loaded; .NET's
/// <see cref="Environment.SetEnvironmentVariable(string, string)"/> does not reach libc's environment on
/// Linux or macOS, so this class calls libc <c>setenv</c> directly.
/// </para>
/// A module initializer applies it the first time any code of BitTtt.Training runs, which is before the trainer
/// (or anything else here) touches libtorch. A code path that calls TorchSharp before touching this assembly
/// (a test or a tool of your own) can call <see cref="PreferPassiveWait"/> first. A value the user set is
/// never overwritten.
/// </summary>
public static class TorchEnvironment
{
    public const string WaitPolicyVariable = "OMP_WAIT_POLICY";
    public const string PassiveWaitPolicy = "PASSIVE";

    /// <summary>
    /// Sets <c>OMP_WAIT_POLICY=PASSIVE</c> in the native environment unless it is already set. Call before the
    /// first TorchSharp call; later calls have no effect on an OpenMP runtime that is already loaded.
    /// On Windows the variable is set through the process environment block, which the OpenMP runtimes there read.
    /// </summary>
    public static void PreferPassiveWait() => SetDefault(WaitPolicyVariable, PassiveWaitPolicy);

    /// <summary>Sets <paramref name="name"/> in the native environment when it is unset; returns the value in effect.</summary>
    public static string? SetDefault(string name, string value)
    {
        if (OperatingSystem.IsWindows())
        {
            if (Environment.GetEnvironmentVariable(name) is null) Environment.SetEnvironmentVariable(name, value);
            return Environment.GetEnvironmentVariable(name);
        }
        if (setenv(name, value, overwrite: 0) != 0)
            throw new InvalidOperationException($"setenv({name}) failed with errno {Marshal.GetLastPInvokeError()}");
        // Keep .NET's copy in step, so child processes started through System.Diagnostics.Process inherit it too.
        if (Environment.GetEnvironmentVariable(name) is null) Environment.SetEnvironmentVariable(name, NativeValue(name));
        return NativeValue(name);
    }

    /// <summary>The value native code (libgomp) sees: libc <c>getenv</c>; on Windows the process environment.</summary>
    public static string? NativeValue(string name)
    {
        if (OperatingSystem.IsWindows()) return Environment.GetEnvironmentVariable(name);
        nint p = getenv(name);
        return p == 0 ? null : Marshal.PtrToStringUTF8(p);
    }

    [DllImport("libc", SetLastError = true)]
    static extern int setenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    [DllImport("libc")]
    static extern nint getenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name);
}

static class TorchEnvironmentInitializer
{
    // A library module initializer (CA2255) is the point: it runs before any trainer code can load libtorch,
    // for every entry point (CLI, ML.NET Fit, samples, tests) without the caller doing anything.
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "must run before libtorch loads, whatever the entry point")]
    internal static void Initialize() => TorchEnvironment.PreferPassiveWait();
}
