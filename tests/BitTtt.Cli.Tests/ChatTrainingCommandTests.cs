using System.Text.Json;
using System.Text.Json.Nodes;
using BitTtt.Inference;
using BitTtt.Tokenization;

namespace BitTtt.Cli.Tests;

/// <summary><c>bit-llama train</c> on conversations, fine-tuning with <c>--init-from</c>, and <c>eval</c> on conversations.</summary>
[TestClass]
public sealed class ChatTrainingCommandTests
{
    static readonly string[] Plans = ["Bronze", "Silver", "Gold", "Platinum"];
    string _dir = "";

    [TestInitialize]
    public void Create() => _dir = TrainCommandTests.TempDir();

    [TestCleanup]
    public void Remove() => Directory.Delete(_dir, recursive: true);

    string Chats(int count, string name = "chats.jsonl")
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllLines(path, Enumerable.Range(0, count).Select(i => JsonSerializer.Serialize(new
        {
            messages = new object[]
            {
                new { role = "system", content = $"Plan: {Plans[i % 4]}." },
                new { role = "user", content = "Which plan am I on?" },
                new { role = "assistant", content = $"You are on the {Plans[i % 4]} plan." },
            },
        })));
        return path;
    }

    static readonly string[] Tiny = ["--dim", "16", "--layers", "1", "--context-len", "32", "--batch-size", "4", "--threads", "1", "--warmup-steps", "2", "--lr", "3e-3", "--eval-interval", "0"];

    [TestMethod]
    public void ConversationsAreDetectedTrainedOnAndTheTemplateStored()
    {
        string output = Path.Combine(_dir, "out");
        var r = CliRunner.Run(["train", "--data", Chats(80), "--output", output, "--vocab-size", "300", "--steps", "6", .. Tiny]);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdErr, "as conversations");
        StringAssert.Contains(r.StdErr, "76 training conversations");
        StringAssert.Contains(r.StdOut, "conversations: 76 of 76 trained on");
        StringAssert.Matches(r.StdOut, new System.Text.RegularExpressions.Regex(@"validation loss \d+\.\d{4} nats on the assistant replies"));
        StringAssert.Matches(r.StdOut, new System.Text.RegularExpressions.Regex(@"answers: \d/4 validation replies exact"));
        Assert.IsFalse(File.Exists(Path.Combine(output, "baselines.json")), "n-gram baselines score every token; the reply loss only some");
        var chat = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "config.json")))!["chat"]!.AsObject();
        Assert.AreEqual("<|end|>", (string)chat["end_of_turn"]!);
        using var llama = Llama.LoadAuto(Path.Combine(output, "model.bitt"));
        Assert.AreEqual(llama.Tokenizer.SpecialTokenId("<|end|>"), llama.ChatFormat!.EndOfTurnId);

        // --format text reads the same file as text: no template, every token counted.
        string text = Path.Combine(_dir, "as-text");
        r = CliRunner.Run(["train", "--data", Path.Combine(_dir, "chats.jsonl"), "--format", "text", "--output", text, "--vocab-size", "300", "--steps", "2", .. Tiny]);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        Assert.IsNull(JsonNode.Parse(File.ReadAllText(Path.Combine(text, "config.json")))!["chat"]);
    }

    [TestMethod]
    public void ABadLineIsOneErrorBeforeAnyWork()
    {
        string path = Chats(5);
        File.AppendAllText(path, """{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant"}]}""" + "\n");
        string output = Path.Combine(_dir, "out");
        var r = CliRunner.Run(["train", "--data", path, "--output", output, "--steps", "2", .. Tiny]);
        Assert.AreEqual(1, r.ExitCode, r.StdErr);
        Assert.AreEqual($"bit-llama: error: {path}:6: messages[1].content must be a string, found nothing", r.StdErr.Trim().Split('\n')[^1]);
        Assert.IsFalse(File.Exists(Path.Combine(output, "tokens.bin")));
        // Text and conversations mixed, told apart by their content.
        File.WriteAllText(Path.Combine(_dir, "notes.txt"), "Plans renew yearly.\n");
        r = CliRunner.Run(["train", "--data", Chats(5, "ok.jsonl"), "--data", Path.Combine(_dir, "notes.txt"), "--output", output, "--steps", "2", .. Tiny]);
        Assert.AreEqual(1, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdErr, "holds conversations and");
    }

    [TestMethod]
    public void FineTuningStartsFromAModelGrowsItAndComparesBeforeAndAfter()
    {
        // A base model whose tokenizer has no chat tokens, as GPT-2 or an older tokenizer.json.
        string tokenizer = Path.Combine(_dir, "tokenizer.json");
        File.WriteAllText(tokenizer, BpeTrainer.TrainFromTexts([File.ReadAllText(TrainCommandTests.WriteText(_dir)), "Plan: Gold. Which plan am I on? You are on the Gold plan."],
            new BpeTrainerOptions { VocabSize = 300, ChatTokens = false }));
        string baseDir = Path.Combine(_dir, "base");
        var r = CliRunner.Run(["train", "--data", Path.Combine(_dir, "text.txt"), "--tokenizer", tokenizer, "--output", baseDir, "--steps", "4", .. Tiny]);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        string baseModel = Path.Combine(baseDir, "model.bitt");

        // The shape and the tokenizer come from the model: their flags beside --init-from are errors.
        string output = Path.Combine(_dir, "tuned");
        string chats = Chats(80);
        r = CliRunner.Run(["train", "--data", chats, "--init-from", baseModel, "--output", output, "--steps", "2", .. Tiny]);
        Assert.AreEqual(1, r.ExitCode, r.StdErr);
        Assert.AreEqual($"bit-llama: error: --dim: the model's shape comes from --init-from {baseModel}; leave --dim out", r.StdErr.Trim());
        string[] schedule = ["--context-len", "32", "--batch-size", "4", "--threads", "1", "--warmup-steps", "2", "--lr", "3e-3", "--eval-interval", "0"];
        r = CliRunner.Run(["train", "--data", chats, "--init-from", baseModel, "--vocab-size", "300", "--output", output, "--steps", "2", .. schedule]);
        Assert.AreEqual($"bit-llama: error: --vocab-size: a run from --init-from uses that model's tokenizer; leave --vocab-size out", r.StdErr.Trim());

        r = CliRunner.Run(["train", "--data", chats, "--init-from", baseModel, "--output", output, "--steps", "8", .. schedule]);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdErr, "lacks the chat tokens: added <|system|> <|user|> <|assistant|> <|end|> as ids 300..303");
        StringAssert.Matches(r.StdOut, new System.Text.RegularExpressions.Regex(@"on the assistant replies \(before fine-tuning: \d+\.\d{4}\)"));
        StringAssert.Matches(r.StdOut, new System.Text.RegularExpressions.Regex(@"answers: \d/4 validation replies exact \(\d+\.\d %\); before fine-tuning \d/4 \(\d+\.\d %, plain-text format\)"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "config.json")))!.AsObject();
        Assert.AreEqual(304, (int)config["vocab_size"]!);
        Assert.AreEqual(16, (int)config["hidden_dim"]!);
        Assert.IsNotNull(config["chat"]);

        // eval on conversations: the fine-tuned model beside the model it started from.
        r = CliRunner.Run("eval", Path.Combine(output, "model.bitt"), "--data", chats, "--compare", baseModel);
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        var lines = r.StdOut.Trim().Split('\n');
        StringAssert.StartsWith(lines[0], $"{chats}: 80 conversations, 80 assistant replies");
        StringAssert.Matches(lines[2], new System.Text.RegularExpressions.Regex(@"model.bitt\s+template\s+\d+\.\d{4} over +[\d,]+  \d+/80 \("));
        StringAssert.Matches(lines[3], new System.Text.RegularExpressions.Regex(@"model.bitt\s+plain text\s+\d+\.\d{4} over +[\d,]+  \d+/80 \("));
        r = CliRunner.Run("eval", baseModel, "--data", chats, "--copy-tokens", "8");
        Assert.AreEqual($"bit-llama: error: --copy-tokens applies to a text; {chats} holds conversations", r.StdErr.Trim());
    }
}
