using System.IO.Compression;
using System.Reflection;
using System.Text.Json.Nodes;
using BitTtt.Formats;
using BitTtt.Tokenization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Transforms;

namespace BitTtt.MLNet;

/// <summary>
/// <c>MLContext.Model.Save</c> support. ML.NET keeps third parties out of its zip format (the model
/// save/load context is internal), so our transformers save their inner CustomMapping (which stores only a
/// contract name) and add one entry of their own beside it in the same zip directory:
/// <c>BitLlama.bitt</c> (the whole model as a .bitt file) or <c>BitLlamaTokenizer.json</c>.
/// <see cref="Load"/> lets ML.NET load the pipeline, then swaps each loaded placeholder for the real
/// transformer rebuilt from its entry, in save order. ML.NET's <c>Model.Load</c> alone fails with an
/// error naming <c>LoadWithBitLlama</c> (the contract name says it).
/// </summary>
internal static class ModelZip
{
    public const string ModelEntry = "BitLlama.bitt";
    public const string TokenizerEntry = "BitLlamaTokenizer.json";
    /// <summary>The options of a score or featurize transformer, written just before its <see cref="ModelEntry"/>.</summary>
    public const string ColumnOptionsEntry = "BitLlamaColumns.json";

    // ModelSaveContext.SaveBinaryStream(string, Action<BinaryWriter>) is internal in ML.NET 5.
    static readonly MethodInfo? SaveBinaryStream = typeof(ModelSaveContext).GetMethod("SaveBinaryStream",
        BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, [typeof(string), typeof(Action<BinaryWriter>)]);

    public static void Save(ModelSaveContext ctx, ITransformer inner, string entry, Action<BinaryWriter> payload) =>
        Save(ctx, inner, [(entry, payload)]);

    /// <summary>Saves the inner mapping, then each entry in order (the zip keeps that order; <see cref="Load"/> reads it back so).</summary>
    public static void Save(ModelSaveContext ctx, ITransformer inner, IReadOnlyList<(string Entry, Action<BinaryWriter> Payload)> entries)
    {
        if (SaveBinaryStream is null)
            throw new InvalidOperationException(
                "MLContext.Model.Save cannot store a BitLlama model with this ML.NET version. Save it with mlContext.Model.SaveAsBitt(model, path) and load it with mlContext.Model.LoadBitt(path).");
        inner.Save(ctx);
        foreach (var (entry, payload) in entries)
        {
            try { SaveBinaryStream.Invoke(ctx, [entry, payload]); }
            catch (TargetInvocationException e) when (e.InnerException is not null) { throw e.InnerException; }
        }
    }

    public static Action<BinaryWriter> ColumnOptionsPayload(BitLlamaTextColumnOptions options) => w =>
    {
        var json = new JsonObject
        {
            ["input_column"] = options.Input,
            ["output_column"] = options.OutputColumnName,
            ["max_tokens"] = options.MaxTokens,
            ["row_separator"] = options.RowSeparator,
            ["threads"] = options.Threads,
            ["batch_size"] = options.BatchSize,
        };
        if (options is BitLlamaScoreOptions score) json["token_count_column"] = score.TokenCountColumnName;
        w.Write(System.Text.Encoding.UTF8.GetBytes(json.ToJsonString()));
    };

    public static Action<BinaryWriter> TokenizerPayload(TokenizeForBitLlamaTransformer t) => w =>
    {
        var json = new JsonObject
        {
            ["input_column"] = t.InputColumnName,
            ["output_column"] = t.OutputColumnName,
            ["tokenizer"] = JsonNode.Parse(t.TokenizerJson),
        };
        w.Write(System.Text.Encoding.UTF8.GetBytes(json.ToJsonString()));
    };

    public static Action<BinaryWriter> ModelPayload(BitLlamaTransformer t) => w =>
    {
        string temp = Path.Combine(Path.GetTempPath(), $"bitllama-save-{Guid.NewGuid():N}.bitt");
        try
        {
            t.SaveBitt(temp);
            using var file = File.OpenRead(temp);
            file.CopyTo(w.BaseStream);
        }
        finally { File.Delete(temp); }
    };

    /// <summary>Loads a zip written by <c>MLContext.Model.Save</c> with BitLlama components in it.</summary>
    public static ITransformer Load(ModelOperationsCatalog catalog, string path, out DataViewSchema inputSchema)
    {
        var env = MlHost.Environment(catalog);
        env.ComponentCatalog.RegisterAssembly(typeof(ModelZip).Assembly);
        var payloads = new Queue<(string Name, byte[] Bytes)>(ReadPayloads(path));
        var loaded = catalog.Load(path, out inputSchema);
        var transforms = MlHost.Transforms(env);
        var result = Replace(loaded, payloads, transforms, path);
        if (payloads.Count > 0)
            throw BitLlamaFormatException.In(path, $"{payloads.Count} BitLlama entries are left over after loading the pipeline (expected one per BitLlama transformer).");
        return result;
    }

    static List<(string, byte[])> ReadPayloads(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        var list = new List<(string, byte[])>();
        foreach (var entry in zip.Entries)
        {
            if (entry.Name is not (ModelEntry or TokenizerEntry or ColumnOptionsEntry)) continue;
            using var stream = entry.Open();
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            list.Add((entry.Name, copy.ToArray()));
        }
        return list;
    }

    static ITransformer Replace(ITransformer t, Queue<(string Name, byte[] Bytes)> payloads, TransformsCatalog transforms, string path)
    {
        switch (t)
        {
            case CustomMappingTransformer<BitLlamaTextInput, BitLlamaTokensOutput>:
                return TokenizerFrom(Next(payloads, TokenizerEntry, path), transforms, path);
            case CustomMappingTransformer<BitLlamaTextInput, BitLlamaCompletionOutput>:
                return ModelFrom(Next(payloads, ModelEntry, path), transforms, path);
            case CustomMappingTransformer<BitLlamaTextInput, BitLlamaScoreOutput>:
            {
                var options = ColumnOptionsFrom(Next(payloads, ColumnOptionsEntry, path), new BitLlamaScoreOptions(), path);
                return new BitLlamaScoreTransformer(transforms, ModelFrom(Next(payloads, ModelEntry, path), transforms, path), ownsModel: true, options);
            }
            case CustomMappingTransformer<BitLlamaTextInput, BitLlamaFeaturesOutput>:
            {
                var options = ColumnOptionsFrom(Next(payloads, ColumnOptionsEntry, path), new BitLlamaFeaturizeOptions(), path);
                return new BitLlamaFeaturizeTransformer(transforms, ModelFrom(Next(payloads, ModelEntry, path), transforms, path), ownsModel: true, options);
            }
            case TransformerChain<ITransformer> chain:
                return new TransformerChain<ITransformer>(chain.Select(x => Replace(x, payloads, transforms, path)).ToArray());
            default:
                return t;
        }
    }

    static byte[] Next(Queue<(string Name, byte[] Bytes)> payloads, string expected, string path)
    {
        if (!payloads.TryDequeue(out var p))
            throw BitLlamaFormatException.In(path, $"a BitLlama transformer has no '{expected}' entry (was the zip written by MLContext.Model.Save of a BitLlama pipeline?)");
        if (p.Name != expected)
            throw BitLlamaFormatException.In(path, $"expected entry '{expected}' for the next BitLlama transformer, found '{p.Name}'");
        return p.Bytes;
    }

    static TokenizeForBitLlamaTransformer TokenizerFrom(byte[] bytes, TransformsCatalog transforms, string path)
    {
        string source = $"{path}:{TokenizerEntry}";
        var json = JsonNode.Parse(bytes) as JsonObject ?? throw BitLlamaFormatException.In(source, "expected a JSON object");
        string input = json["input_column"]?.GetValue<string>() ?? throw BitLlamaFormatException.In(source, "missing 'input_column'");
        string output = json["output_column"]?.GetValue<string>() ?? throw BitLlamaFormatException.In(source, "missing 'output_column'");
        string tokenizer = json["tokenizer"]?.ToJsonString() ?? throw BitLlamaFormatException.In(source, "missing 'tokenizer'");
        return new TokenizeForBitLlamaTransformer(transforms, BitLlamaTokenizer.FromJson(tokenizer, source), input, output);
    }

    static T ColumnOptionsFrom<T>(byte[] bytes, T options, string path) where T : BitLlamaTextColumnOptions
    {
        string source = $"{path}:{ColumnOptionsEntry}";
        var json = JsonNode.Parse(bytes) as JsonObject ?? throw BitLlamaFormatException.In(source, "expected a JSON object");
        try
        {
            options.InputColumnName = json["input_column"]?.GetValue<string>() ?? throw BitLlamaFormatException.In(source, "missing 'input_column'");
            options.OutputColumnName = json["output_column"]?.GetValue<string>() ?? throw BitLlamaFormatException.In(source, "missing 'output_column'");
            options.MaxTokens = json["max_tokens"]?.GetValue<int>() ?? options.MaxTokens;
            options.RowSeparator = json["row_separator"]?.GetValue<string>() ?? options.RowSeparator;
            options.Threads = json["threads"]?.GetValue<int>() ?? options.Threads;
            options.BatchSize = json["batch_size"]?.GetValue<int>() ?? options.BatchSize;
            if (options is BitLlamaScoreOptions score)
                score.TokenCountColumnName = json["token_count_column"]?.GetValue<string>() ?? throw BitLlamaFormatException.In(source, "missing 'token_count_column'");
            options.Validate();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException)
        {
            throw BitLlamaFormatException.In(source, e.Message, e);
        }
        return options;
    }

    static BitLlamaTransformer ModelFrom(byte[] bytes, TransformsCatalog transforms, string path)
    {
        string temp = Path.Combine(Path.GetTempPath(), $"bitllama-load-{Guid.NewGuid():N}.bitt");
        try
        {
            File.WriteAllBytes(temp, bytes);
            return BittFile.Load(transforms, temp, displayName: $"{path}:{ModelEntry}");
        }
        finally { File.Delete(temp); }
    }
}

/// <summary>Placeholder factories ML.NET needs to load the zip; the mappings are replaced by <see cref="ModelZip.Load"/>.</summary>
[CustomMappingFactoryAttribute(TokenizeForBitLlamaTransformer.ContractName)]
public sealed class TokenizeForBitLlamaMappingFactory : CustomMappingFactory<BitLlamaTextInput, BitLlamaTokensOutput>
{
    public override Action<BitLlamaTextInput, BitLlamaTokensOutput> GetMapping() =>
        (_, _) => throw new InvalidOperationException("This BitLlama pipeline was loaded with MLContext.Model.Load; load it with mlContext.Model.LoadWithBitLlama(path).");
}

/// <summary>Placeholder factories ML.NET needs to load the zip; the mappings are replaced by <see cref="ModelZip.Load"/>.</summary>
[CustomMappingFactoryAttribute(BitLlamaTransformer.ContractName)]
public sealed class BitLlamaMappingFactory : CustomMappingFactory<BitLlamaTextInput, BitLlamaCompletionOutput>
{
    public override Action<BitLlamaTextInput, BitLlamaCompletionOutput> GetMapping() =>
        (_, _) => throw new InvalidOperationException("This BitLlama pipeline was loaded with MLContext.Model.Load; load it with mlContext.Model.LoadWithBitLlama(path).");
}

/// <summary>Placeholder factories ML.NET needs to load the zip; the mappings are replaced by <see cref="ModelZip.Load"/>.</summary>
[CustomMappingFactoryAttribute(BitLlamaScoreTransformer.ContractName)]
public sealed class BitLlamaScoreMappingFactory : CustomMappingFactory<BitLlamaTextInput, BitLlamaScoreOutput>
{
    public override Action<BitLlamaTextInput, BitLlamaScoreOutput> GetMapping() =>
        (_, _) => throw new InvalidOperationException("This BitLlama pipeline was loaded with MLContext.Model.Load; load it with mlContext.Model.LoadWithBitLlama(path).");
}

/// <summary>Placeholder factories ML.NET needs to load the zip; the mappings are replaced by <see cref="ModelZip.Load"/>.</summary>
[CustomMappingFactoryAttribute(BitLlamaFeaturizeTransformer.ContractName)]
public sealed class BitLlamaFeaturizeMappingFactory : CustomMappingFactory<BitLlamaTextInput, BitLlamaFeaturesOutput>
{
    public override Action<BitLlamaTextInput, BitLlamaFeaturesOutput> GetMapping() =>
        (_, _) => throw new InvalidOperationException("This BitLlama pipeline was loaded with MLContext.Model.Load; load it with mlContext.Model.LoadWithBitLlama(path).");
}
