using System.Text.Json.Nodes;
using BitTtt.Tokenization;

namespace BitTtt.Core.Tests.Tokenization;

internal static class TokenizerTestData
{
    public static string MobyDickPath => Path.Combine(AppContext.BaseDirectory, "data", "moby-dick.txt");

    /// <summary>Strings that break lossy tokenizers: whitespace runs, controls, non-Latin text, emoji, a lone combining mark.</summary>
    public static readonly string[] HardStrings =
    [
        "",
        "The quick brown fox jumps over the lazy dog.",
        "こんにちは、世界 🐋",
        "tabs\tand\t\ttabs\nnew\n\nlines\r\n  double  spaces  ",
        "control \u0001 and \u007f and \u0000 chars",
        "\u0301",
        "a\u0301 e\u0301\u0302",
        " leading and trailing ",
        "emoji 👨‍👩‍👧‍👦 flags 🇯🇵 and 🐋🐋🐋",
        "it's we'll they'd I'M don't",
        "numbers 1234567890 3.14159 -42",
        "<s> literal specials </s> <unk>",
        "mixed: naïve café — “quotes” ‘single’ … ½ ∑ ∞",
        "\n",
        "    ",
    ];

    public static JsonObject Parse(string json) => JsonNode.Parse(json)!.AsObject();

    public static List<string> Merges(string json) =>
        Parse(json)["model"]!["merges"]!.AsArray().Select(m => m!.GetValue<string>()).ToList();

    public static string Ascii(string byteLevel) =>
        System.Text.Encoding.UTF8.GetString(ByteLevel.TryDecode(byteLevel, out var b) ? b : throw new ArgumentException(byteLevel));
}
