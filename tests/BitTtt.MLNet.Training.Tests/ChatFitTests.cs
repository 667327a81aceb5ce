using System.Text.Json;
using BitTtt.Inference;
using BitTtt.MLNet;
using BitTtt.Tokenization;
using Microsoft.ML;

namespace BitTtt.MLNet.Tests;

[TestClass]
public sealed class ChatFitTests
{
    static readonly string[] Plans = ["Bronze", "Silver", "Gold", "Platinum"];

    public sealed class PromptRow
    {
        public string Prompt { get; set; } = "";
        public string Response { get; set; } = "";
    }

    public sealed class MessagesRow
    {
        public string Messages { get; set; } = "";
    }

    sealed class Answer
    {
        public string Completion { get; set; } = "";
    }

    static PromptRow[] PromptRows(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new PromptRow { Prompt = $"My plan is {Plans[i % 4]}. Which plan am I on?", Response = $"You are on the {Plans[i % 4]} plan." })];

    static string Conversation(int i, bool withReply = true)
    {
        var messages = new List<object>
        {
            new { role = "system", content = $"Plan: {Plans[i % 4]}." },
            new { role = "user", content = "Which plan am I on?" },
        };
        if (withReply) messages.Add(new { role = "assistant", content = $"You are on the {Plans[i % 4]} plan." });
        return JsonSerializer.Serialize(new { messages });
    }

    static BitLlamaOptions Chat(BitLlamaOptions options)
    {
        options.ContextLen = 48;
        return options;
    }

    [TestMethod]
    public void PromptAndResponseColumnsTrainAModelThatAnswers()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(PromptRows(120));
        var options = Chat(TinyPipeline.Options(24));
        (options.PromptColumnName, options.ResponseColumnName) = (nameof(PromptRow.Prompt), nameof(PromptRow.Response));
        using var model = ml.Transforms.BitLlama(options).Fit(data);
        var format = model.Model.ChatFormat;
        Assert.IsNotNull(format, "a model fitted on conversations stores its template");
        Assert.AreEqual(ChatFormat.Default(model.Tokenizer).EndOfTurnId, format.EndOfTurnId);
        var summary = model.Training!;
        Assert.IsNotNull(summary.ValidationLoss);
        Assert.IsNull(summary.Baselines, "n-gram baselines score every token, the reply loss only some");
        Assert.AreEqual(summary.Examples!.Examples, summary.Examples.Trained);

        // The Completion column is the model's reply to the prompt as a user message, through the one chat door.
        string prompt = PromptRows(1)[0].Prompt;
        string expected = model.Model.CreateSession().Reply([new ChatTurn(ChatTurn.User, prompt)], model.Model.DefaultSampling).Text;
        var engine = ml.Model.CreatePredictionEngine<PromptRow, Answer>(model);
        Assert.AreEqual(expected, engine.Predict(new PromptRow { Prompt = prompt }).Completion);

        // Saved and loaded, the model keeps the template and answers alike.
        string path = Path.Combine(Path.GetTempPath(), $"chat-fit-{Guid.NewGuid():N}.bitt");
        try
        {
            ml.Model.SaveAsBitt(model, path);
            using var loaded = ml.Model.LoadBitt(path);
            Assert.IsNotNull(loaded.Model.ChatFormat);
            Assert.AreEqual(expected, ml.Model.CreatePredictionEngine<PromptRow, Answer>(loaded).Predict(new PromptRow { Prompt = prompt }).Completion);
        }
        finally { File.Delete(path); }
    }

    [TestMethod]
    public void AMessagesColumnTrainsAndTheCompletionIsTheNextReply()
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 100).Select(i => new MessagesRow { Messages = Conversation(i) }).Append(new MessagesRow { Messages = "  " });
        var options = Chat(TinyPipeline.Options(16));
        options.MessagesColumnName = nameof(MessagesRow.Messages);
        using var model = ml.Transforms.BitLlama(options).Fit(ml.Data.LoadFromEnumerable(rows));
        Assert.IsNotNull(model.Model.ChatFormat);
        Assert.AreEqual(nameof(MessagesRow.Messages), model.PromptColumnName);
        string ask = Conversation(2, withReply: false);
        var turns = ChatData.Parse(ask, "ask", requireAssistant: false);
        string expected = model.Model.CreateSession().Reply(turns, model.Model.DefaultSampling).Text;
        Assert.AreEqual(expected, ml.Model.CreatePredictionEngine<MessagesRow, Answer>(model).Predict(new MessagesRow { Messages = ask }).Completion);

        // Fine-tuning the fitted model: it starts from its weights, and the first validation loss is the model's own.
        string path = Path.Combine(Path.GetTempPath(), $"chat-fit-{Guid.NewGuid():N}.bitt");
        try
        {
            ml.Model.SaveAsBitt(model, path);
            var tune = Chat(TinyPipeline.Options(8));
            (tune.MessagesColumnName, tune.InitialModel) = (nameof(MessagesRow.Messages), path);
            using var tuned = ml.Transforms.BitLlama(tune).Fit(ml.Data.LoadFromEnumerable(rows));
            Assert.IsNotNull(tuned.Training!.InitialValidationLoss);
            Assert.AreEqual(model.Tokenizer.VocabSize, tuned.Tokenizer.VocabSize, "a trained tokenizer already has the chat tokens: nothing grows");
            Assert.AreEqual(model.Config.HiddenDim, tuned.Config.HiddenDim);
        }
        finally { File.Delete(path); }
    }

    [TestMethod]
    public void BadConversationsAndOptionsAreNamed()
    {
        var ml = new MLContext(seed: 1);
        var options = Chat(TinyPipeline.Options(4));
        options.MessagesColumnName = nameof(MessagesRow.Messages);
        var bad = ml.Data.LoadFromEnumerable(new[] { new MessagesRow { Messages = Conversation(0) }, new MessagesRow { Messages = """{"messages": [{"role": "bot", "content": "x"}]}""" } });
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.BitLlama(options).Fit(bad));
        StringAssert.Contains(e.Message, "Column 'Messages', row 1: messages[0].role must be \"system\", \"user\" or \"assistant\", got \"bot\"");

        var response = Chat(TinyPipeline.Options(4));
        response.ResponseColumnName = "Response";
        var missing = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.BitLlama(response).Fit(ml.Data.LoadFromEnumerable(PromptRows(4))));
        StringAssert.Contains(missing.Message, "ResponseColumnName needs PromptColumnName: the user message each reply answers");
        response.PromptColumnName = "Question";
        var schema = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ml.Transforms.BitLlama(response).Fit(ml.Data.LoadFromEnumerable(PromptRows(4))));
        StringAssert.Contains(schema.Message, "Could not find input column 'Question'");
        response.MessagesColumnName = "Messages";
        var both = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => response.Validate());
        StringAssert.Contains(both.Message, "ResponseColumnName and MessagesColumnName are two ways to give conversations: set one of them");
        var empty = ml.Data.LoadFromEnumerable(new[] { new PromptRow { Prompt = "hi", Response = "" } });
        var noReply = Chat(TinyPipeline.Options(4));
        (noReply.PromptColumnName, noReply.ResponseColumnName) = ("Prompt", "Response");
        e = Assert.ThrowsExactly<ArgumentException>(() => ml.Transforms.BitLlama(noReply).Fit(empty));
        StringAssert.Contains(e.Message, "Column 'Response', row 0: the reply is empty");
    }
}
