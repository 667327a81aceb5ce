using System.Runtime.InteropServices;
using BitTtt.Formats;
using BitTtt.Inference.Kernels;

namespace BitTtt.Inference.Engine;

/// <summary>
/// The packed <c>.bitt</c> (docs/format.md §7, <see cref="PackedWeights"/>) as the engine reads and writes it. Its
/// ternary codes, int8 embedding rows and int8 head rows are the engine's own layouts, so loading copies each tensor's
/// bytes once from the file into the array the kernels use, with no conversion, and the fingerprint comes from the
/// header instead of a hash over the weights. Writing takes whatever a loaded model holds (an fp32 embedding or head is
/// quantized with the reference quantizers), so any model the engine loads can be saved packed.
/// Shape key (docs/model.md): V = vocab, D = hidden, F = delta width, K = ttt_conv.
/// </summary>
public static class PackedBitt
{
    /// <summary>Loads a packed package (<see cref="ModelPackage.IsPacked"/>); every tensor is checked as it is read.</summary>
    public static InferenceWeights Load(ModelPackage package, InferenceOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(package);
        if (!package.IsPacked) throw new ArgumentException($"{package.Path} is not a packed .bitt", nameof(package));
        var reader = package.Weights;
        string file = Path.GetFileName(package.Path);
        byte[] Bytes(string name)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var bytes = GC.AllocateUninitializedArray<byte>(checked((int)reader.Get(name).ByteLength));
            reader.ReadBytes(name, bytes);
            return bytes;
        }
        sbyte[] Int8(string name)
        {
            var values = GC.AllocateUninitializedArray<sbyte>(checked((int)reader.Get(name).ByteLength));
            reader.ReadBytes(name, MemoryMarshal.AsBytes(values.AsSpan()));
            int bad = values.AsSpan().IndexOf((sbyte)-128);
            if (bad >= 0) throw BitLlamaFormatException.In(package.Path, $"tensor '{name}': value {bad} is -128; int8 rows hold -127..127");
            return values;
        }
        float Scale(string name) => reader.ReadFloat32(name + PackedWeights.ScaleSuffix)[0];
        PackedTernaryMatrix Ternary(string name, long[] shape)
        {
            try
            {
                return PackedTernaryMatrix.FromCodes(Bytes(name), checked((int)shape[0]), checked((int)shape[1]), Scale(name), $"tensor '{name}'");
            }
            catch (ArgumentException e)
            {
                throw BitLlamaFormatException.In(package.Path, e.Message);
            }
        }
        var config = package.Config;
        int v = config.VocabSize, dim = config.HiddenDim;
        var embedScales = reader.ReadFloat32(BitLlamaWeights.Embed + PackedWeights.ScaleSuffix);
        CheckScales(package.Path, BitLlamaWeights.Embed, embedScales);
        return InferenceWeights.FromParts(config, package.PackedFingerprint!, options ?? new InferenceOptions(),
            (name, shape) => { cancellationToken.ThrowIfCancellationRequested(); return reader.ReadFloat32(name, shape); },
            Ternary,
            embed: (Int8(BitLlamaWeights.Embed), embedScales),
            head: () =>
            {
                var grouped = Int8(BitLlamaWeights.LmHead);
                var scales = reader.ReadFloat32(BitLlamaWeights.LmHead + PackedWeights.ScaleSuffix);
                try { return Int8RowMatrix.FromGrouped(grouped, scales, v, dim, $"tensor '{BitLlamaWeights.LmHead}'"); }
                catch (ArgumentException e) { throw BitLlamaFormatException.In(package.Path, e.Message); }
            });
    }

    static void CheckScales(string path, string name, float[] scales)
    {
        for (int i = 0; i < scales.Length; i++)
            if (!float.IsFinite(scales[i]) || scales[i] < 0)
                throw BitLlamaFormatException.In(path, $"tensor '{name}{PackedWeights.ScaleSuffix}': row scale {i} is {scales[i]}; expected a finite number >= 0");
    }

    /// <summary>
    /// Writes <paramref name="weights"/> as a packed .bitt with <paramref name="config"/> (the model's, with any stored
    /// generation defaults) and <paramref name="tokenizerJson"/> in its header, atomically.
    /// </summary>
    public static void Write(string path, InferenceWeights weights, BitLlamaConfig config, string tokenizerJson)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(config);
        if (config.VocabSize != weights.Config.VocabSize || config.HiddenDim != weights.Config.HiddenDim || config.NumLayers != weights.Config.NumLayers)
            throw new ArgumentException("the config does not describe these weights", nameof(config));
        ModelPackage.WriteBittPacked(path, config, tokenizerJson, Tensors(weights), weights.Fingerprint);
    }

    /// <summary>The packed tensors of <paramref name="w"/>, in <see cref="PackedWeights.Expected"/> order.</summary>
    internal static List<SafeTensorBytes> Tensors(InferenceWeights w)
    {
        var c = w.Config;
        int v = c.VocabSize, dim = c.HiddenDim;
        var tensors = new List<SafeTensorBytes>();
        foreach (var (name, dtype, shape) in PackedWeights.Expected(c))
        {
            if (name.EndsWith(PackedWeights.ScaleSuffix, StringComparison.Ordinal)) continue;   // written with their tensor
            if (name == BitLlamaWeights.Embed)
            {
                var (q, scales) = w.EmbedInt8 is { } e ? (e, w.EmbedScales!) : Int8Rows.Quantize(w.Embed, v, dim);
                tensors.Add(new(name, SafeTensorDType.I8, shape, MemoryMarshal.AsBytes(q.AsSpan()).ToArray()));
                tensors.Add(SafeTensorBytes.Float32(name + PackedWeights.ScaleSuffix, [v], scales));
            }
            else if (name == BitLlamaWeights.LmHead)
            {
                var head = w.LmHeadInt8 ?? Int8RowMatrix.Quantize(w.LmHead, v, dim);
                tensors.Add(new(name, SafeTensorDType.I8, shape, MemoryMarshal.AsBytes(head.Grouped).ToArray()));
                tensors.Add(SafeTensorBytes.Float32(name + PackedWeights.ScaleSuffix, [shape[0]], head.Scales.ToArray()));
            }
            else if (dtype == SafeTensorDType.U8)
            {
                var m = w.Ternary(name);
                tensors.Add(new(name, SafeTensorDType.U8, shape, m.Codes));
                tensors.Add(SafeTensorBytes.Float32(name + PackedWeights.ScaleSuffix, [], [m.Scale]));
            }
            else tensors.Add(SafeTensorBytes.Float32(name, shape, w.FullPrecision(name)));
        }
        return tensors;
    }
}
