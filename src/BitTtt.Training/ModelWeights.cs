using BitTtt.Formats;
using TorchSharp;
using static TorchSharp.torch;

namespace BitTtt.Training;

/// <summary>Moves weights between a <see cref="BitLlamaModel"/> and docs/model.md §2 safetensors data (F32, [out, in]).</summary>
public static class ModelWeights
{
    /// <summary>Every weight under its docs/model.md name, in docs/model.md order, copied to managed float arrays.</summary>
    public static IReadOnlyList<SafeTensorData> Export(BitLlamaModel model)
    {
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        return BitLlamaWeights.Expected(model.Config)
            .Select(e => ToData(e.Name, parameters.TryGetValue(e.Name, out var p) ? p
                : throw new InvalidOperationException($"model has no parameter '{e.Name}'")))
            .ToArray();
    }

    internal static SafeTensorData ToData(string name, Tensor t)
    {
        using var cpu = t.detach().cpu().to_type(ScalarType.Float32).contiguous();
        return new SafeTensorData(name, t.shape, cpu.data<float>().ToArray());
    }

    /// <summary>Copies the weights into <paramref name="model"/> after checking names and shapes against its config.</summary>
    public static void Load(BitLlamaModel model, SafeTensorsReader weights)
    {
        BitLlamaWeights.Validate(weights, model.Config);
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
            CopyInto(p, weights.ReadFloat32(name, p.shape));
    }

    internal static void CopyInto(Tensor destination, float[] data)
    {
        using var source = tensor(data, destination.shape);
        using var converted = source.to(destination.dtype, destination.device);
        destination.copy_(converted);
    }

    /// <summary>Builds a model from a weights list (for example <see cref="TrainingResult.Weights"/>).</summary>
    public static BitLlamaModel FromWeights(BitLlamaConfig config, IReadOnlyList<SafeTensorData> weights, string device = "cpu")
    {
        var byName = weights.ToDictionary(w => w.Name);
        var model = new BitLlamaModel(config);
        try
        {
            model.to(TorchDevice.Resolve(device));
            using var _ = no_grad();
            foreach (var (name, p) in model.named_parameters())
            {
                if (!byName.TryGetValue(name, out var w)) throw new ArgumentException($"weights lack tensor '{name}'", nameof(weights));
                if (!w.Shape.SequenceEqual(p.shape))
                    throw new ArgumentException($"tensor '{name}': expected shape [{string.Join(", ", p.shape)}], found [{string.Join(", ", w.Shape)}]", nameof(weights));
                CopyInto(p, w.Data.ToArray());
            }
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Loads a model directory or <c>.bitt</c> file (docs/model.md §4) into a TorchSharp model.</summary>
    public static BitLlamaModel LoadModel(string path, string device = "cpu")
    {
        using var package = ModelPackage.Open(path);
        if (package.IsPacked)
            throw BitLlamaFormatException.In(path, "a packed .bitt holds 2-bit ternary codes and int8 rows, not the fp32 weights TorchSharp trains and runs " +
                "(docs/format.md §7); use the fp32 .bitt it was packed from (the managed engine reads both)");
        var model = new BitLlamaModel(package.Config);
        try
        {
            model.to(TorchDevice.Resolve(device));
            Load(model, package.Weights);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
