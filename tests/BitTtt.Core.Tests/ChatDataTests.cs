using BitTtt.Tokenization;

namespace BitTtt.Core.Tests;

[TestClass]
public sealed class ChatDataTests
{
    string _dir = "";

    [TestInitialize]
    public void Create() => _dir = Directory.CreateTempSubdirectory("chatdata").FullName;

    [TestCleanup]
    public void Remove() => Directory.Delete(_dir, recursive: true);

    string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [TestMethod]
    public void ReadsTheOpenAiFineTuningFormat()
    {
        string path = Write("chats.jsonl",
            """
            {"messages": [{"role": "system", "content": "Plan: Gold."}, {"role": "user", "content": "Which plan?"}, {"role": "assistant", "content": "Gold."}]}

            {"messages": [{"role": "user", "content": "Hi", "name": "dana"}, {"role": "assistant", "content": "Hello", "weight": 0}, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye!", "weight": 1}], "id": 7}
            """);
        Assert.IsTrue(ChatData.IsChatFile(path));
        var examples = ChatData.Read(path).ToList();
        Assert.AreEqual(2, examples.Count);
        Assert.AreEqual(1, examples[0].Line);
        Assert.AreEqual(3, examples[1].Line, "a blank line is skipped but counted");
        CollectionAssert.AreEqual(new[] { "system", "user", "assistant" }, examples[0].Messages.Select(m => m.Role).ToArray());
        Assert.AreEqual("Which plan?", examples[0].Messages[1].Content);
        CollectionAssert.AreEqual(new[] { true, false, true, true }, examples[1].Messages.Select(m => m.Train).ToArray());
        // The bare messages array is one conversation too (an ML.NET messages column may hold either form).
        Assert.AreEqual(2, ChatData.Parse("""[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]""", "row 0").Count);
    }

    [TestMethod]
    public void ABadLineNamesFileLineAndField()
    {
        void Rejects(string line, string expected)
        {
            string path = Write("bad.jsonl", """{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}""" + "\n\n" + line + "\n");
            var e = Assert.ThrowsExactly<FormatException>(() => ChatData.Read(path).ToList());
            Assert.AreEqual($"{path}:3: {expected}", e.Message);
        }
        Rejects("""{"messages": [{"role": "tool", "content": "x"}, {"role": "assistant", "content": "y"}]}""",
            "messages[0].role must be \"system\", \"user\" or \"assistant\", got \"tool\"");
        Rejects("""{"messages": [{"content": "x"}]}""", "messages[0].role must be \"system\", \"user\" or \"assistant\", got nothing");
        Rejects("""{"messages": [{"role": "user", "content": ["a"]}]}""", "messages[0].content must be a string, found an array");
        Rejects("""{"messages": [{"role": "user"}]}""", "messages[0].content must be a string, found nothing");
        Rejects("""{"messages": [{"role": "user", "content": "x"}]}""", "field 'messages' has no assistant message (a conversation trains on its assistant replies)");
        Rejects("""{"messages": [{"role": "assistant", "content": "x", "weight": 2}]}""", "messages[0].weight must be 0 or 1, got 2");
        Rejects("""{"messages": []}""", "field 'messages' must be a non-empty array of messages, found an array");
        Rejects("""{"messages": "hi"}""", "field 'messages' must be a non-empty array of messages, found a string");
        Rejects("""{"prompt": "x", "completion": "y"}""", "field 'messages' is missing (expected {\"messages\": [{\"role\": ..., \"content\": ...}, ...]})");
        Rejects("""["x"]""", "messages[0] must be an object with 'role' and 'content', found a string");
        Rejects("42", "expected an object {\"messages\": [...]}, found a number");
        Rejects("""{"messages": [""", "not valid JSON (Expected depth to be zero at the end of the JSON payload)");
    }

    [TestMethod]
    public void TellsConversationsFromText()
    {
        Assert.IsFalse(ChatData.IsChatFile(Write("a.txt", "Call me Ishmael.\n{\"messages\": []}\n")));
        Assert.IsFalse(ChatData.IsChatFile(Write("b.jsonl", "{\"prompt\": \"x\"}\n")));
        Assert.IsFalse(ChatData.IsChatFile(Write("c.txt", "{ not json\n")));
        Assert.IsTrue(ChatData.IsChatFile(Write("d.txt", "\n\n  {\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n")));
    }
}
