using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace BitTtt.Formats;

// Binary format (.bitt, docs/model.md §4.3); integers little-endian:
//   magic        4 bytes            "BITT" (42 49 54 54)
//   header_len   u64                bytes of header; readers reject it past the end of the file or over 100 MB
//   header       header_len bytes   UTF-8 JSON object {"config": {...}, "tokenizer": {...}}:
//                                   "config" is config.json (docs/model.md §1), required;
//                                   "tokenizer" is a Hugging Face tokenizer.json object;
//                                   "packing": 1 and "fingerprint": "<64 hex>" in a packed file (docs/format.md §7)
//   body         to EOF             a complete safetensors file (docs/model.md §4.1) starting at byte 12 + header_len:
//                                   fp32 weights (docs/model.md §2), or the packed tensors of PackedWeights

/// <summary>Where a model came from.</summary>
public enum ModelPackageKind { Bitt, Directory }

/// <summary>
/// A model on disk: a single <c>.bitt</c> file or a model directory (<c>config.json</c> +
/// <c>tokenizer.json</c> + <c>model.safetensors</c> or <c>weight.safetensors</c>), docs/model.md §4.2-4.3.
/// Opening checks the config and that the weights match it; the weights stay memory-mapped until
/// <see cref="Dispose"/>.
/// </summary>
public sealed partial class ModelPackage : IDisposable
{
    /// <summary>"BITT", the first four bytes of a .bitt file.</summary>
    public static ReadOnlySpan<byte> Magic => "BITT"u8;

    /// <summary>Whether the file at <paramref name="path"/> begins with <see cref="Magic"/> (false when it is shorter).</summary>
    public static bool IsBitt(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using var stream = File.OpenRead(path);
        return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual(Magic);
    }

    /// <summary>Largest .bitt JSON header accepted by default (config + tokenizer); see <see cref="BitLlamaLoadLimits.MaxBittHeaderBytes"/>.</summary>
    public const long MaxHeaderLength = 64L << 20;

    public const string ConfigFileName = "config.json", TokenizerFileName = "tokenizer.json",
        WeightsFileName = "model.safetensors", AlternateWeightsFileName = "weight.safetensors";

    ModelPackage(string path, ModelPackageKind kind, BitLlamaConfig config, string? tokenizerJson, SafeTensorsReader weights, BittPacking packing)
    {
        Path = path;
        Kind = kind;
        Config = config;
        TokenizerJson = tokenizerJson;
        Weights = weights;
        Packing = packing.Version;
        PackedFingerprint = packing.Fingerprint;
    }

    /// <summary>0 for fp32 weights (docs/model.md §2); <see cref="PackedWeights.Version"/> for a packed .bitt (docs/format.md §7).</summary>
    public int Packing { get; }

    /// <summary>True for a packed .bitt: ternary codes and int8 rows instead of fp32 weights.</summary>
    public bool IsPacked => Packing != 0;

    /// <summary>A packed file's <c>fingerprint</c>: the fingerprint of the model it was packed from, which memory files name.</summary>
    public string? PackedFingerprint { get; }

    public string Path { get; }
    public ModelPackageKind Kind { get; }
    public BitLlamaConfig Config { get; }

    /// <summary>The raw JSON text of the tokenizer object (null when the package has none).</summary>
    public string? TokenizerJson { get; }

    /// <summary>
    /// Where <see cref="TokenizerJson"/> came from, for errors: DIR/tokenizer.json of a model directory (not the
    /// directory), the .bitt file itself.
    /// </summary>
    public string TokenizerSource => Kind == ModelPackageKind.Directory ? System.IO.Path.Combine(Path, TokenizerFileName) : Path;

    public SafeTensorsReader Weights { get; }

    /// <summary>Opens a model directory, or a file that starts with "BITT". <paramref name="limits"/> bounds
    /// what a file may ask for (default <see cref="BitLlamaLoadLimits.Default"/>).</summary>
    public static ModelPackage Open(string path, BitLlamaLoadLimits? limits = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        limits ??= BitLlamaLoadLimits.Default;
        if (Directory.Exists(path)) return OpenDirectory(path, limits);
        if (File.Exists(path)) return OpenBitt(path, limits);
        throw new FileNotFoundException($"{path}: no such .bitt file or model directory", path);
    }

    static ModelPackage OpenBitt(string path, BitLlamaLoadLimits limits)
    {
        var (config, tokenizer, packing, bodyOffset) = ReadBittHeader(path, limits);
        return WithWeights(path, ModelPackageKind.Bitt, config, tokenizer, () => SafeTensorsReader.Open(path, bodyOffset, limits), packing);
    }

    /// <summary>Reads and checks magic, header length and JSON header; returns where the body starts.</summary>
    static (BitLlamaConfig Config, string? Tokenizer, BittPacking Packing, long BodyOffset) ReadBittHeader(string path, BitLlamaLoadLimits limits)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.RandomAccess);
        long fileLength = stream.Length;
        Span<byte> prefix = stackalloc byte[12];
        int got = RandomAccess.Read(stream.SafeFileHandle, prefix, 0);
        if (got < 4 || !prefix[..4].SequenceEqual(Magic))
            throw BitLlamaFormatException.In(path,
                $"not a .bitt file: expected magic 'BITT', found {Describe(prefix[..Math.Min(got, 4)])} (a model directory or .bitt file is needed)");
        if (got < 12)
            throw BitLlamaFormatException.In(path, $"file is {fileLength} bytes, too short for the 12-byte .bitt preamble (truncated file?)");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix[4..]);
        if (headerLength > (ulong)(fileLength - 12))
            throw BitLlamaFormatException.In(path,
                $"header length {headerLength} exceeds the {fileLength - 12} bytes left in the file (truncated download?)");
        if (headerLength > (ulong)limits.MaxBittHeaderBytes)
            throw BitLlamaFormatException.In(path, $"header length {headerLength} exceeds the {limits.MaxBittHeaderBytes}-byte limit (BitLlamaLoadLimits.MaxBittHeaderBytes)");
        var header = new byte[headerLength];
        if (RandomAccess.Read(stream.SafeFileHandle, header, 12) != header.Length)
            throw BitLlamaFormatException.In(path, "file shrank while reading the header");
        var (config, tokenizer, packing) = ParseBittHeader(path, header, limits);
        return (config, tokenizer, packing, 12 + (long)headerLength);
    }

    static (BitLlamaConfig, string?, BittPacking) ParseBittHeader(string path, byte[] header, BitLlamaLoadLimits limits)
    {
        JsonDocument doc = StrictJson.Parse(header, path, "header", limits.MaxBittHeaderBytes, limits);
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw BitLlamaFormatException.In(path, $"header must be a JSON object {{\"config\": ..., \"tokenizer\": ...}}, found {root.ValueKind}");
            if (!root.TryGetProperty("config", out var configElement))
                throw BitLlamaFormatException.In(path, "header has no 'config' (expected {\"config\": {...}, \"tokenizer\": {...}})");
            if (configElement.ValueKind != JsonValueKind.Object)
                throw BitLlamaFormatException.In(path, $"header 'config' must be an object, found {configElement.ValueKind}");
            var config = BitLlamaConfig.FromJson(configElement.GetRawText(), path, limits);
            string? tokenizer = null;
            if (root.TryGetProperty("tokenizer", out var tokenizerElement) && tokenizerElement.ValueKind != JsonValueKind.Null)
            {
                if (tokenizerElement.ValueKind != JsonValueKind.Object)
                    throw BitLlamaFormatException.In(path, $"header 'tokenizer' must be a tokenizer.json object, found {tokenizerElement.ValueKind}");
                if (tokenizerElement.GetRawText() is { } raw && raw.Length > limits.MaxTokenizerJsonBytes)
                    throw BitLlamaFormatException.In(path, $"header 'tokenizer' is {raw.Length} characters, more than the {limits.MaxTokenizerJsonBytes}-byte limit (BitLlamaLoadLimits.MaxTokenizerJsonBytes)");
                tokenizer = tokenizerElement.GetRawText();
            }
            return (config, tokenizer, BittPacking.Read(path, root));
        }
    }

    static ModelPackage OpenDirectory(string directory, BitLlamaLoadLimits limits)
    {
        string name = System.IO.Path.TrimEndingDirectorySeparator(directory);
        string configPath = System.IO.Path.Combine(directory, ConfigFileName);
        if (!File.Exists(configPath))
            throw BitLlamaFormatException.In(name, $"model directory has no {ConfigFileName} (expected {ConfigFileName}, {TokenizerFileName}, {WeightsFileName})");
        var config = BitLlamaConfig.Load(configPath, limits);
        string tokenizerPath = System.IO.Path.Combine(directory, TokenizerFileName);
        string? tokenizer = File.Exists(tokenizerPath) ? ReadTokenizerFile(tokenizerPath, limits) : null;
        string weightsPath = System.IO.Path.Combine(directory, WeightsFileName);
        if (!File.Exists(weightsPath)) weightsPath = System.IO.Path.Combine(directory, AlternateWeightsFileName);
        if (!File.Exists(weightsPath))
            throw BitLlamaFormatException.In(name, $"model directory has neither {WeightsFileName} nor {AlternateWeightsFileName}");
        return WithWeights(directory, ModelPackageKind.Directory, config, tokenizer, () => SafeTensorsReader.Open(weightsPath, 0, limits), default);
    }

    /// <summary>Only checks size, UTF-8 and that tokenizer.json is a JSON object; BitTtt.Tokenization reads its content.</summary>
    static string ReadTokenizerFile(string path, BitLlamaLoadLimits limits)
    {
        byte[] bytes = StrictJson.ReadFile(path, "tokenizer file", limits.MaxTokenizerJsonBytes);
        using (var doc = StrictJson.Parse(bytes, path, "tokenizer.json", limits.MaxTokenizerJsonBytes, limits, allowTrailingCommas: true))
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw BitLlamaFormatException.In(path, $"expected a tokenizer.json object at the top level, found {doc.RootElement.ValueKind}");
        return Encoding.UTF8.GetString(bytes);
    }

    static ModelPackage WithWeights(string path, ModelPackageKind kind, BitLlamaConfig config, string? tokenizer, Func<SafeTensorsReader> open, BittPacking packing)
    {
        var weights = open();
        try
        {
            if (packing.Version != 0) PackedWeights.Validate(weights, config);
            else BitLlamaWeights.Validate(weights, config);
            return new ModelPackage(path, kind, config, tokenizer, weights, packing);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>Shows unexpected leading bytes both as text (when printable) and hex.</summary>
    static string Describe(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) return "an empty file";
        string hex = Convert.ToHexString(bytes);
        bool printable = true;
        foreach (byte b in bytes) printable &= b is >= 0x20 and < 0x7f;
        return printable ? $"'{Encoding.ASCII.GetString(bytes)}' (0x{hex})" : $"0x{hex}";
    }

    public void Dispose() => Weights.Dispose();
}

/// <summary>The packed .bitt's header fields: <c>packing</c> (absent: fp32 weights) and the source model's <c>fingerprint</c>.</summary>
internal readonly record struct BittPacking(int Version, string? Fingerprint)
{
    public static BittPacking Read(string path, JsonElement header)
    {
        bool hasPacking = header.TryGetProperty("packing", out var p) && p.ValueKind != JsonValueKind.Null;
        bool hasFingerprint = header.TryGetProperty("fingerprint", out var f) && f.ValueKind != JsonValueKind.Null;
        if (!hasPacking)
        {
            if (hasFingerprint) throw BitLlamaFormatException.In(path, "header has a 'fingerprint' but no 'packing' (only a packed .bitt carries one)");
            return default;
        }
        if (p.ValueKind != JsonValueKind.Number || !p.TryGetInt32(out int version))
            throw BitLlamaFormatException.In(path, $"header 'packing' must be an integer, found {p.GetRawText()}");
        if (version != PackedWeights.Version)
            throw BitLlamaFormatException.In(path, $"header 'packing' is {version}; this reader knows packing {PackedWeights.Version} (docs/format.md §7; a newer writer?)");
        if (!hasFingerprint || f.ValueKind != JsonValueKind.String || f.GetString() is not { Length: 64 } hex || !hex.All(char.IsAsciiHexDigitLower))
            throw BitLlamaFormatException.In(path, "header 'fingerprint' of a packed file must be 64 lowercase hex digits (the SHA-256 the model's memory files name)");
        return new BittPacking(version, hex);
    }
}
