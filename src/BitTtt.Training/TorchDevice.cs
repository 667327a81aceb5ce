using static TorchSharp.torch;

namespace BitTtt.Training;

/// <summary>Turns a device name into a TorchSharp device, with one clear error when CUDA is asked for but absent.</summary>
public static class TorchDevice
{
    /// <summary>Checks the name only: <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    public static void Parse(string name)
    {
        string n = name.Trim().ToLowerInvariant();
        if (n == "cpu" || n == "cuda") return;
        if (n.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(n.AsSpan(5), out int index) && index >= 0) return;
        throw new ArgumentException($"device '{name}' is not supported; use cpu or cuda (cuda:N)", "device");
    }

    /// <summary>The device, after checking that a CUDA backend is present when CUDA is requested.</summary>
    public static Device Resolve(string name)
    {
        Parse(name);
        string n = name.Trim().ToLowerInvariant();
        if (n == "cpu") return CPU;
        if (!cuda.is_available())
        {
            FormattableString text = $"CUDA was requested ({OptionMessage.Name(nameof(TrainingOptions.Device))} {name}) but this build uses the CPU libtorch backend; rebuild with -p:TorchBackend=cuda-linux";
            throw OptionMessage.Attach(new InvalidOperationException(text.ToString()), text);
        }
        return new Device(n);
    }
}
