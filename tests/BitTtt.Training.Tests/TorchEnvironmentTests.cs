using System.Runtime.InteropServices;
using BitTtt.Training;

namespace BitTtt.Training.Tests;

[TestClass]
public sealed class TorchEnvironmentTests
{
    [TestMethod]
    public void TheNativeEnvironmentAsksOpenMpForPassiveWaitingBeforeTorchLoads()
    {
        // Set by this assembly's module initializer (or by the user, whose value wins).
        string? seen = TorchEnvironment.NativeValue(TorchEnvironment.WaitPolicyVariable);
        Assert.IsNotNull(seen, "libc getenv(OMP_WAIT_POLICY) is unset, so libgomp would spin-wait");
        Assert.AreEqual(seen, Environment.GetEnvironmentVariable(TorchEnvironment.WaitPolicyVariable), ".NET's copy follows (child processes inherit it)");
    }

    [TestMethod]
    public void SetDefaultSetsAnUnsetVariableAndKeepsAUserValue()
    {
        if (OperatingSystem.IsWindows()) Assert.Inconclusive("libc setenv/getenv are the Linux and macOS path");
        string name = $"BITTTT_TEST_{Guid.NewGuid():N}";
        Assert.IsNull(TorchEnvironment.NativeValue(name));
        Assert.AreEqual("PASSIVE", TorchEnvironment.SetDefault(name, "PASSIVE"));
        Assert.AreEqual("PASSIVE", TorchEnvironment.NativeValue(name));

        string user = $"BITTTT_TEST_{Guid.NewGuid():N}";
        Assert.AreEqual(0, setenv(user, "ACTIVE", 1));
        Assert.AreEqual("ACTIVE", TorchEnvironment.SetDefault(user, "PASSIVE"), "an explicit setting is respected");
        Assert.AreEqual("ACTIVE", TorchEnvironment.NativeValue(user));
    }

    [DllImport("libc")]
    static extern int setenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);
}
