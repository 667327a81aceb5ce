namespace BitTtt.Orleans.Tests;

/// <summary>
/// Tiny BitLlamas with random weights (<see cref="RandomModel"/>: nothing trained, no TorchSharp), one per TTT type, written
/// once per test run as .bitt files: what a conversation says does not matter here, only that every silo and a single
/// process say the same.
/// </summary>
[TestClass]
public static class TestModels
{
    static readonly TempRoot Root = new("bitttt-orleans-tests");

    public static string Reconstruct { get; private set; } = null!;
    public static string Delta { get; private set; } = null!;
    /// <summary>A delta model whose config stores the chat template (docs/model.md §6): the grains must answer in its format.</summary>
    public static string Chat { get; private set; } = null!;

    /// <summary>The model file of a TTT type's name ("reconstruct" or "delta"), or "chat" for the delta model with a chat template.</summary>
    public static string Of(string tttType) => tttType switch { "delta" => Delta, "chat" => Chat, _ => Reconstruct };

    [AssemblyInitialize]
    public static void Write(TestContext _)
    {
        Directory.CreateDirectory(Root.Path);
        // The chat template's words in the tokenizer's texts.
        string tokenizer = RandomModel.TrainTokenizer(["the whale swam in the sea. the sea was calm and the whale was white. User: Assistant: who was Ishmael?"], vocabSize: 300);
        int vocab = Tokenization.BitLlamaTokenizer.FromJson(tokenizer).VocabSize;
        Reconstruct = RandomModel.Create(TinyModels.Config(vocab: vocab, dim: 32, layers: 2, chunk: 4), seed: 7, tokenizer).WriteBitt(Path.Combine(Root.Path, "reconstruct.bitt"));
        Delta = RandomModel.Create(TinyModels.DeltaConfig(vocab: vocab, dim: 32, layers: 2, heads: 2, conv: 4), seed: 7, tokenizer).WriteBitt(Path.Combine(Root.Path, "delta.bitt"));
        string chatTokenizer = RandomModel.TrainTokenizer(["the whale swam in the sea. the sea was calm and the whale was white. who was Ishmael?"], vocabSize: 300, chatTokens: true);
        var chatFormat = Tokenization.ChatFormat.Default(Tokenization.BitLlamaTokenizer.FromJson(chatTokenizer));
        Chat = RandomModel.Create(chatFormat.StoreIn(TinyModels.DeltaConfig(vocab: 300, dim: 32, layers: 2, heads: 2, conv: 4)), seed: 7, chatTokenizer)
            .WriteBitt(Path.Combine(Root.Path, "chat.bitt"));
    }

    [AssemblyCleanup]
    public static void Cleanup() => Root.Delete();

    /// <summary>A new path in the run's folder.</summary>
    public static string NewPath(string name) => Path.Combine(Root.Path, $"{Guid.NewGuid():N}-{name}");
}
