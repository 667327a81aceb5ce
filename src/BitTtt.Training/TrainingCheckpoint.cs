using System.Globalization;
using BitTtt.Formats;
using static TorchSharp.torch;

namespace BitTtt.Training;

// Checkpoint format: one safetensors file (docs/model.md §4.1), written to a temporary file and renamed, so a
// crash leaves the previous checkpoint intact and never a torn one. Tensors:
//   <docs/model.md §2 name>                        model weights, F32
//   optimizer.exp_avg.<docs/model.md §2 name>      AdamW first moment
//   optimizer.exp_avg_sq.<docs/model.md §2 name>   AdamW second moment
// __metadata__: format = "bitllama-checkpoint/1", step (schedule steps done), adam_step, rng_state
// (SplitMix64 state, 16 hex digits), windows_drawn, train_loss, config (config.json text).

/// <summary>
/// Saves and restores everything a resumed run needs to continue exactly (the trainer's side is internal); reads the
/// model out of a checkpoint for export (<see cref="ReadModel"/>, then <c>ModelPackage.WriteBitt</c> / <c>WriteDirectory</c>).
/// </summary>
public static class TrainingCheckpoint
{
    public const string FileName = "checkpoint.safetensors";
    const string Format = "bitllama-checkpoint/1";
    const string ExpAvg = "optimizer.exp_avg.", ExpAvgSq = "optimizer.exp_avg_sq.";

    /// <summary>What a resumed run restores besides the weights; <paramref name="TrainLoss"/> is the loss of the step the checkpoint was written after.</summary>
    internal sealed record Saved(int Step, ulong RngState, long WindowsDrawn, double TrainLoss);

    /// <summary>Fails before any training when the checkpoint directory cannot be written.</summary>
    internal static void EnsureWritable(string path)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        try
        {
            Directory.CreateDirectory(dir);
            string probe = AtomicFile.TemporaryName(Path.Combine(dir, "write-test"), "tmp");   // removed by the next run if we are killed here
            File.WriteAllBytes(probe, [0]);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{dir}: the output directory is not writable ({e.Message})", e);
        }
    }

    internal static void Save(string path, BitLlamaModel model, AdamW optimizer, int step, WindowSampler sampler, BitLlamaConfig config, double loss)
    {
        var tensors = new List<SafeTensorData>(ModelWeights.Export(model));
        foreach (var e in BitLlamaWeights.Expected(config))
        {
            tensors.Add(ModelWeights.ToData(ExpAvg + e.Name, optimizer.ExpAvg[e.Name]));
            tensors.Add(ModelWeights.ToData(ExpAvgSq + e.Name, optimizer.ExpAvgSq[e.Name]));
        }
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            ["adam_step"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture),
            ["rng_state"] = sampler.State.ToString("X16", CultureInfo.InvariantCulture),
            ["windows_drawn"] = sampler.WindowsDrawn.ToString(CultureInfo.InvariantCulture),
            ["train_loss"] = loss.ToString("R", CultureInfo.InvariantCulture),
            ["config"] = config.ToJsonObject().ToJsonString(),
        };
        try
        {
            SafeTensorsWriter.WriteFile(path, tensors, metadata);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{path}: could not write the checkpoint ({e.Message}); the previous checkpoint, if any, is unchanged", e);
        }
    }

    internal static Saved Load(string path, BitLlamaConfig config, BitLlamaModel model, AdamW optimizer)
    {
        if (!File.Exists(path))
        {
            FormattableString text = $"{path}: no checkpoint to resume from (start without {OptionMessage.Name(nameof(TrainingOptions.Resume))}, or point {OptionMessage.Name(nameof(TrainingOptions.CheckpointDirectory))} at the earlier run)";
            throw OptionMessage.Attach(new FileNotFoundException(text.ToString(), path), text);
        }
        using var reader = SafeTensorsReader.Open(path);
        string Meta(string key) => reader.Metadata.TryGetValue(key, out var v) ? v
            : throw BitLlamaFormatException.In(path, $"checkpoint metadata lacks '{key}' (not a checkpoint written by this trainer?)");
        if (Meta("format") != Format) throw BitLlamaFormatException.In(path, $"checkpoint format '{Meta("format")}' is not supported (expected '{Format}')");
        CheckSameModel(path, BitLlamaConfig.FromJson(Meta("config"), path), config);

        ModelWeights.Load(model, reader);
        using (no_grad())
        {
            foreach (var e in BitLlamaWeights.Expected(config))
            {
                ModelWeights.CopyInto(optimizer.ExpAvg[e.Name], reader.ReadFloat32(ExpAvg + e.Name, e.Shape));
                ModelWeights.CopyInto(optimizer.ExpAvgSq[e.Name], reader.ReadFloat32(ExpAvgSq + e.Name, e.Shape));
            }
        }
        optimizer.StepCount = ParseLong(path, "adam_step", Meta("adam_step"));
        if (!ulong.TryParse(Meta("rng_state"), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong rng))
            throw BitLlamaFormatException.In(path, $"metadata 'rng_state' is not a 64-bit hex number: '{Meta("rng_state")}'");
        long step = ParseLong(path, "step", Meta("step"));
        if (step > int.MaxValue) throw BitLlamaFormatException.In(path, $"metadata 'step' {step} is larger than {int.MaxValue}");
        // train_loss: absent in no checkpoint this trainer wrote, but it is only reported, so an unreadable one is NaN, not an error.
        double trainLoss = reader.Metadata.TryGetValue("train_loss", out var l)
            && double.TryParse(l, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) ? parsed : double.NaN;
        return new Saved((int)step, rng, ParseLong(path, "windows_drawn", Meta("windows_drawn")), trainLoss);
    }

    /// <summary>The model config and weights (docs/model.md §2 names, docs/model.md order) stored in a checkpoint.</summary>
    public static (BitLlamaConfig Config, IReadOnlyList<SafeTensorData> Weights) ReadModel(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: checkpoint not found", path);
        using var reader = SafeTensorsReader.Open(path);
        if (!reader.Metadata.TryGetValue("format", out var format) || format != Format || !reader.Metadata.TryGetValue("config", out var configJson))
            throw BitLlamaFormatException.In(path, $"not a training checkpoint (metadata 'format' should be '{Format}' with a 'config')");
        var config = BitLlamaConfig.FromJson(configJson, path);
        BitLlamaWeights.Validate(reader, config);
        var weights = BitLlamaWeights.Expected(config)
            .Select(e => new SafeTensorData(e.Name, e.Shape, reader.ReadFloat32(e.Name, e.Shape)))
            .ToArray();
        return (config, weights);
    }

    static long ParseLong(string path, string key, string value) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) && v >= 0 && v <= int.MaxValue * 4096L ? v
            : throw BitLlamaFormatException.In(path, $"metadata '{key}' is not a non-negative integer: '{value}'");

    static void CheckSameModel(string path, BitLlamaConfig saved, BitLlamaConfig current)
    {
        void Same<T>(string field, T a, T b)
        {
            if (!EqualityComparer<T>.Default.Equals(a, b))
                throw BitLlamaFormatException.In(path, $"checkpoint is for a different model: {field} = {a} in the checkpoint, {b} in this run");
        }
        Same("ttt_type", BitLlamaConfig.TttTypeName(saved.TttType), BitLlamaConfig.TttTypeName(current.TttType));
        Same("vocab_size", saved.VocabSize, current.VocabSize);
        Same("hidden_dim", saved.HiddenDim, current.HiddenDim);
        Same("num_layers", saved.NumLayers, current.NumLayers);
        Same("intermediate_dim", saved.IntermediateDim, current.IntermediateDim);
        Same("ttt_chunk", saved.TttChunk, current.TttChunk);
        Same("inner_lr", saved.InnerLr, current.InnerLr);
        Same("context_len", saved.ContextLen, current.ContextLen);
        Same("rms_norm_eps", saved.RmsNormEps, current.RmsNormEps);
        if (current.TttType == TttType.Delta)
        {
            Same("ttt_heads", saved.TttHeads, current.TttHeads);
            Same("ttt_head_dim", saved.TttHeadDim, current.TttHeadDim);
            Same("ttt_conv", saved.TttConv, current.TttConv);
        }
    }
}
