using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BitTtt.Fuzz;

/// <summary>
/// Deterministic mutations of a seed file (same seed and index, same output): byte-level edits anywhere,
/// and structure-aware edits of the JSON part (config.json, tokenizer.json, the header of a .bitt or
/// .safetensors) that swap JSON kinds, plant numbers such as 2^31 or 1e400, duplicate keys, empty or
/// lengthen strings and drop fields, with the length prefix rewritten (or deliberately left stale).
/// </summary>
public static class FuzzMutator
{
    static readonly string[] Numbers =
    [
        "0", "-1", "1", "2", "3", "4", "7", "16", "255", "256", "257", "65535", "65536", "1048576", "1073741824",
        "134217728", "2000000000", "2147483647", "2147483648", "-2147483648", "4294967296", "9007199254740993",
        "1e308", "1e400", "-1e400", "0.5", "1.5", "-0.0", "1e-400", "1e9", "99999999999999999999",
    ];

    static readonly string[] Strings =
    [
        "", " ", "a", "<unk>", "Ġ", "\u0000", "\u001b[31m", "\ud800", "(a+)+$", "(?!x)", "[", "\\", "BPE", "ByteLevel",
        "Split", "Sequence", "F32", "F16", "BF16", "I64", "delta", "reconstruct", "Isolated", "é", "🐋",
    ];

    /// <summary>The JSON region of a file: whole file for JSON formats, the header after an 8-byte (safetensors),
    /// "BITT"+8-byte (.bitt) or "BTTM"+version+4-byte (memory) length prefix.</summary>
    public static (int Start, int Length, int LengthField) JsonRegion(FuzzFormat format, byte[] file)
    {
        int prefix = format switch { FuzzFormat.Bitt or FuzzFormat.Memory => 12, FuzzFormat.SafeTensors => 8, _ => 0 };
        if (prefix == 0) return (0, file.Length, -1);
        if (file.Length < prefix) return (0, 0, -1);
        ulong n = format == FuzzFormat.Memory ? BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(8))
            : BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(prefix - 8));
        if (n > (ulong)(file.Length - prefix)) return (0, 0, -1);
        return (prefix, (int)n, format == FuzzFormat.Memory ? 8 : prefix - 8);
    }

    public static byte[] Mutate(FuzzFormat format, byte[] seed, byte[][] others, Random rng)
    {
        byte[] data = seed;
        int steps = 1 + rng.Next(3);
        for (int s = 0; s < steps; s++)
            data = rng.Next(10) < 6 ? MutateJson(format, data, rng) : MutateBytes(data, others, rng);
        return data;
    }

    static byte[] MutateBytes(byte[] data, byte[][] others, Random rng)
    {
        var list = new List<byte>(data);
        int pos = list.Count == 0 ? 0 : rng.Next(list.Count);
        switch (rng.Next(6))
        {
            case 0 when list.Count > 0:
                list[pos] ^= (byte)(1 << rng.Next(8));
                break;
            case 1 when list.Count > 0:
                byte[] interesting = [0, 0xFF, 0x7F, 0x80, (byte)'"', (byte)'{', (byte)'}', (byte)'[', (byte)']', (byte)',', (byte)':', (byte)'\\', (byte)'9', (byte)'-', 0x1B, 0xC3];
                list[pos] = interesting[rng.Next(interesting.Length)];
                break;
            case 2 when list.Count > 0:
                list.RemoveRange(pos, Math.Min(1 + rng.Next(16), list.Count - pos));
                break;
            case 3:
                var bytes = new byte[1 + rng.Next(16)];
                rng.NextBytes(bytes);
                list.InsertRange(pos, bytes);
                break;
            case 4 when list.Count > 0:
                int len = Math.Min(1 + rng.Next(64), list.Count - pos);
                list.InsertRange(rng.Next(list.Count), list.GetRange(pos, len));
                break;
            default:
                // Splice: the head of this input with the tail of another seed.
                var other = others[rng.Next(others.Length)];
                int cut = other.Length == 0 ? 0 : rng.Next(other.Length);
                list.RemoveRange(pos, list.Count - pos);
                list.AddRange(other.AsSpan(cut).ToArray());
                break;
        }
        return [.. list];
    }

    static byte[] MutateJson(FuzzFormat format, byte[] file, Random rng)
    {
        var (start, length, lengthField) = JsonRegion(format, file);
        if (length == 0) return MutateBytes(file, [file], rng);
        string json = Encoding.UTF8.GetString(file, start, length);
        string mutated = MutateJsonText(json, rng);
        byte[] newJson = Encoding.UTF8.GetBytes(mutated);
        var result = new byte[file.Length - length + newJson.Length];
        file.AsSpan(0, start).CopyTo(result);
        newJson.CopyTo(result, start);
        file.AsSpan(start + length).CopyTo(result.AsSpan(start + newJson.Length));
        if (lengthField >= 0 && rng.Next(8) != 0)     // mostly a consistent length prefix, sometimes a stale one
        {
            if (format == FuzzFormat.Memory) BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(lengthField), (uint)newJson.Length);
            else BinaryPrimitives.WriteUInt64LittleEndian(result.AsSpan(lengthField), (ulong)newJson.Length);
        }
        return result;
    }

    static string MutateJsonText(string json, Random rng)
    {
        try
        {
            return MutateJsonNode(json, rng);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or JsonException)
        {
            return json;   // an earlier step left duplicate keys the node API refuses; keep the input as it is
        }
    }

    static string MutateJsonNode(string json, Random rng)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json, null, new JsonDocumentOptions { AllowDuplicateProperties = true });
        }
        catch (JsonException)
        {
            return json;
        }
        if (root is null) return json;
        var nodes = new List<JsonNode>();
        Collect(root, nodes, 0);
        var target = nodes[rng.Next(nodes.Count)];
        int kind = rng.Next(9);
        if (kind == 8)
        {
            // Duplicate a key inside its own object: textual, since a JsonObject cannot hold one.
            if (target.Parent is JsonObject parent && target.GetPropertyName() is { } key)
            {
                string text = root.ToJsonString();
                string marker = parent.ToJsonString();
                int at = text.IndexOf(marker, StringComparison.Ordinal);
                if (at >= 0 && marker.Length > 2)
                    return text.Insert(at + 1, JsonSerializer.Serialize(key) + ":" + Replacement(rng) + ",");
            }
            return root.ToJsonString();
        }
        if (target == root) return Replacement(rng);
        JsonNode? replacement = kind switch
        {
            0 or 1 => JsonNode.Parse(Numbers[rng.Next(Numbers.Length)]),
            2 => JsonValue.Create(Strings[rng.Next(Strings.Length)]),
            3 => target is JsonValue v && v.GetValueKind() == JsonValueKind.String ? JsonValue.Create(new string(v.GetValue<string>().FirstOrDefault('x'), 1 + rng.Next(5000))) : null,
            4 => null,
            5 => new JsonArray(),
            6 => new JsonObject(),
            _ => JsonValue.Create(rng.Next(2) == 0),
        };
        if (kind == 7 && target.Parent is JsonObject o && target.GetPropertyName() is { } name && rng.Next(2) == 0)
        {
            o.Remove(name);
            return root.ToJsonString();
        }
        if (kind == 7 && target.Parent is JsonArray a && rng.Next(2) == 0)
        {
            int index = target.GetElementIndex();
            if (rng.Next(2) == 0) a.RemoveAt(index); else a.Insert(index, target.DeepClone());
            return root.ToJsonString();
        }
        target.ReplaceWith(replacement);
        return root.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    static string Replacement(Random rng) => rng.Next(4) switch
    {
        0 => Numbers[rng.Next(Numbers.Length)],
        1 => JsonSerializer.Serialize(Strings[rng.Next(Strings.Length)]),
        2 => "[]",
        _ => "{}",
    };

    static void Collect(JsonNode node, List<JsonNode> into, int depth)
    {
        into.Add(node);
        if (depth > 64) return;
        if (node is JsonObject o) foreach (var (_, v) in o) { if (v is not null) Collect(v, into, depth + 1); }
        else if (node is JsonArray a) foreach (var v in a) { if (v is not null) Collect(v, into, depth + 1); }
    }
}
