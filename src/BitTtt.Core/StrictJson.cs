using System.Text.Json;

namespace BitTtt;

/// <summary>
/// Parses a JSON document the way every reader of this project must: size checked against a limit before
/// parsing, valid UTF-8, no duplicate property names (a dictionary add would otherwise decide which wins, or
/// throw), bounded nesting, no comments. Problems are <see cref="BitLlamaFormatException"/>s naming the file.
/// </summary>
internal static class StrictJson
{
    public static JsonDocumentOptions Options(BitLlamaLoadLimits limits, bool allowTrailingCommas = false) => new()
    {
        AllowDuplicateProperties = false,
        MaxDepth = limits.MaxJsonDepth,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = allowTrailingCommas,
    };

    /// <summary>Parses UTF-8 bytes; <paramref name="what"/> names the document in errors ("header", "tokenizer.json").</summary>
    public static JsonDocument Parse(ReadOnlyMemory<byte> utf8, string? source, string what, long maxBytes, BitLlamaLoadLimits limits,
        bool allowTrailingCommas = false, string where = "")
    {
        if (utf8.Length > maxBytes)
            throw BitLlamaFormatException.In(source, where + $"{what} is {utf8.Length} bytes, more than the {maxBytes}-byte limit (BitLlamaLoadLimits)");
        // JsonDocument checks UTF-8 only when a string is decoded, so check it all up front.
        if (!System.Text.Unicode.Utf8.IsValid(utf8.Span))
            throw BitLlamaFormatException.In(source, where + $"invalid JSON {what}: it is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(utf8, Options(limits, allowTrailingCommas));
        }
        catch (JsonException e)
        {
            throw BitLlamaFormatException.In(source, where + $"invalid JSON {what}: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            // The duplicate-name check decodes property names while parsing, so a name holding an escaped lone
            // surrogate fails inside Parse rather than in CheckStrings below.
            throw BitLlamaFormatException.In(source, where + $"invalid JSON {what}: a property name holds an escaped lone surrogate (a \\uD800-\\uDFFF without its pair), which is not Unicode", e);
        }
        try
        {
            CheckStrings(doc.RootElement);
        }
        catch (InvalidOperationException e)
        {
            doc.Dispose();
            throw BitLlamaFormatException.In(source,
                where + $"invalid JSON {what}: a string holds an escaped lone surrogate (a \\uD800-\\uDFFF without its pair), which is not Unicode", e);
        }
        return doc;
    }

    // An escaped lone surrogate ("\ud800") is valid JSON syntax, but decoding it throws InvalidOperationException
    // wherever a reader later asks for the string: decode every name and string once, here. Depth is bounded by MaxDepth.
    static void CheckStrings(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    _ = p.Name;
                    CheckStrings(p.Value);
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in e.EnumerateArray()) CheckStrings(item);
                break;
            case JsonValueKind.String:
                _ = e.GetString();
                break;
        }
    }

    /// <summary>Parses text (already valid UTF-16; lone surrogates are rejected).</summary>
    public static JsonDocument Parse(string json, string? source, string what, long maxBytes, BitLlamaLoadLimits limits,
        bool allowTrailingCommas = false)
    {
        ArgumentNullException.ThrowIfNull(json);
        // UTF-8 is at least one byte per char: a quick bound before the exact count.
        if (json.Length > maxBytes)
            throw BitLlamaFormatException.In(source, $"{what} is {json.Length} characters, more than the {maxBytes}-byte limit (BitLlamaLoadLimits)");
        return Parse(ToUtf8(json, source, what), source, what, maxBytes, limits, allowTrailingCommas);
    }

    /// <summary>Parses a document that must be a JSON object into a mutable <see cref="System.Text.Json.Nodes.JsonObject"/>.</summary>
    public static System.Text.Json.Nodes.JsonObject ParseObject(ReadOnlyMemory<byte> utf8, string? source, string what, long maxBytes, BitLlamaLoadLimits limits)
    {
        using (var doc = Parse(utf8, source, what, maxBytes, limits))
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw BitLlamaFormatException.In(source, $"{what}: expected a JSON object at the top level, found {doc.RootElement.ValueKind}");
        // Checked above (size, UTF-8, duplicates, depth), so this second parse cannot fail.
        return System.Text.Json.Nodes.JsonNode.Parse(utf8.Span, null, Options(limits))!.AsObject();
    }

    public static System.Text.Json.Nodes.JsonObject ParseObject(string json, string? source, string what, long maxBytes, BitLlamaLoadLimits limits)
    {
        if (json.Length > maxBytes)
            throw BitLlamaFormatException.In(source, $"{what} is {json.Length} characters, more than the {maxBytes}-byte limit (BitLlamaLoadLimits)");
        return ParseObject(ToUtf8(json, source, what), source, what, maxBytes, limits);
    }

    static byte[] ToUtf8(string json, string? source, string what)
    {
        try
        {
            return new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetBytes(json);
        }
        catch (System.Text.EncoderFallbackException e)
        {
            throw BitLlamaFormatException.In(source, $"invalid JSON {what}: it holds a lone UTF-16 surrogate, not valid Unicode", e);
        }
    }

    /// <summary>Reads a file's bytes after checking its size; a missing file is <see cref="FileNotFoundException"/>.</summary>
    public static byte[] ReadFile(string path, string what, long maxBytes)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: {what} not found", path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        if (!stream.CanSeek)
            throw BitLlamaFormatException.In(path, $"{what} must be a regular file (found a pipe or device)");
        long length = stream.Length;
        if (length > maxBytes)
            throw BitLlamaFormatException.In(path, $"{what} is {length} bytes, more than the {maxBytes}-byte limit (BitLlamaLoadLimits)");
        var bytes = new byte[length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>"String", "Number", ... for messages.</summary>
    public static string Kind(JsonElement e) => e.ValueKind.ToString();
}
