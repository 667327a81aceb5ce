using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace BitTtt.Tests;

/// <summary>
/// Test code may call TorchSharp before any BitTtt.Training code runs (whose own module initializer sets
/// OMP_WAIT_POLICY); this one runs when the test assembly loads, so libtorch never starts spin-waiting.
/// </summary>
static class PassiveOpenMpWait
{
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "must run before the first TorchSharp call of any test")]
    internal static void Initialize() => BitTtt.Training.TorchEnvironment.PreferPassiveWait();
}
