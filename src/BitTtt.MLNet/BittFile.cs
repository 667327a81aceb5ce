using BitTtt.Formats;
using BitTtt.Inference;
using BitTtt.Tokenization;
using Microsoft.ML;

namespace BitTtt.MLNet;

/// <summary>Reads and writes a <c>.bitt</c> file or model directory (docs/model.md §4) as a <see cref="BitLlamaTransformer"/>.</summary>
internal static class BittFile
{
    public static BitLlamaTransformer Load(TransformsCatalog transforms, string path, string? displayName = null)
    {
        string source = displayName ?? path;
        using var package = ModelPackage.Open(path);
        string tokenizerJson = package.TokenizerJson
            ?? throw BitLlamaFormatException.In(source, "the model has no tokenizer (a .bitt header 'tokenizer' or tokenizer.json is needed to turn prompts into tokens)");
        var tokenizer = BitLlamaTokenizer.FromJson(tokenizerJson, displayName ?? package.TokenizerSource);   // DIR/tokenizer.json, not DIR
        var settings = ColumnSettings.FromConfig(package.Config, source);
        BitTtt.Inference.SamplingOptions.FromConfig(package.Config, source);   // a bad stored generation setting names the file, before the weights load
        if (package.IsPacked)   // the engine reads a packed file straight into its arrays; there are no fp32 weights to keep
            return new BitLlamaTransformer(transforms, package.Config, tokenizer, Llama.FromPackage(package), settings);
        var weights = package.Weights.Tensors
            .Select(t => new SafeTensorData(t.Name, t.Shape, package.Weights.ReadFloat32(t.Name)))
            .ToList();
        return new BitLlamaTransformer(transforms, package.Config, tokenizer, weights, settings);
    }

    /// <summary>The reader maps a file; a stream is copied to a temporary file first, deleted once the weights are read.</summary>
    public static BitLlamaTransformer Load(TransformsCatalog transforms, Stream stream)
    {
        if (!stream.CanRead)
            throw new ArgumentException("LoadBitt: the stream cannot be read (CanRead is false); pass a readable stream positioned at the start of a .bitt file.", nameof(stream));
        string temp = TempPath("load");
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write)) stream.CopyTo(file);
            return Load(transforms, temp, displayName: StreamName);
        }
        catch (BitLlamaFormatException e) when (e.FilePath == temp)
        {
            // The temporary file's name means nothing to the caller: name the stream instead.
            string message = e.Message.StartsWith(Path.GetFileName(temp) + ": ", StringComparison.Ordinal)
                ? e.Message[(Path.GetFileName(temp).Length + 2)..] : e.Message;
            throw BitLlamaFormatException.In(StreamName, message, e);
        }
        finally { File.Delete(temp); }
    }

    /// <summary>Atomic (temporary file + rename); a path that cannot be written is one error naming it, with no file left behind.</summary>
    public static void Save(BitLlamaTransformer model, string path, bool packed = false)
    {
        try { model.SaveBitt(path, packed); }
        catch (UnauthorizedAccessException e)
        {
            throw new UnauthorizedAccessException($"SaveAsBitt: cannot write '{path}': {e.Message} Choose a writable path; nothing was written.", e);
        }
        catch (IOException e)
        {
            throw new IOException($"SaveAsBitt: cannot write '{path}': {e.Message} Nothing was written.", e);
        }
    }

    /// <summary>The whole file is built in a temporary file before its first byte reaches <paramref name="stream"/>.</summary>
    public static void Save(BitLlamaTransformer model, Stream stream, bool packed = false)
    {
        if (!stream.CanWrite)
            throw new ArgumentException("SaveAsBitt: the stream cannot be written (CanWrite is false); pass a writable stream, e.g. File.Create(path). Nothing was written.", nameof(stream));
        string temp = TempPath("save");
        try
        {
            model.SaveBitt(temp, packed);
            using var file = File.OpenRead(temp);
            file.CopyTo(stream);
            stream.Flush();
        }
        finally { File.Delete(temp); }
    }

    const string StreamName = "the .bitt stream";

    static string TempPath(string what) => Path.Combine(Path.GetTempPath(), $"bitllama-{what}-{Guid.NewGuid():N}.bitt");
}
