#!/usr/bin/env dotnet
// # 06 · Teach the model to answer: fine-tune on support-desk conversations, then ask
//
//     dotnet run samples/notebooks/06-chat-fine-tune.cs              # fine-tunes the model of 01-train.cs (minutes)
//     dotnet run samples/notebooks/06-chat-fine-tune.cs -- --tiny    # a few steps, to run the path (what CI runs)
//     dotnet run samples/notebooks/06-chat-fine-tune.cs -- --output DIR # the folder 01 wrote to
//
// A model trained on raw text continues text; it does not answer. This notebook fine-tunes the model of 01 on
// data/support-chat.jsonl, 1,000 support-desk conversations in the OpenAI fine-tuning format (data/README.md says
// how they were made). Most of them give the customer's account card in the system message and ask about one fact
// of it; the facts are new in every conversation, so the answer can only come from what the model read in the
// conversation: its TTT memory.
//
// Fine-tuning: BitLlamaOptions.InitialModel starts from the model's weights and tokenizer (the CLI's
// `bit-llama train --init-from`); MessagesColumnName reads one conversation per row; the loss counts the
// assistant replies only. The fitted model stores the chat template (docs/model.md §6): special tokens for each
// role and an end-of-turn token, which every door (the chat client, the web API, bit-llama chat, Python) uses, and
// where every reply stops.
#:project ../../src/BitTtt.MLNet/BitTtt.MLNet.csproj
#:project ../../src/BitTtt.MLNet.Training/BitTtt.MLNet.Training.csproj
#:project ../../src/BitTtt.Extensions.AI/BitTtt.Extensions.AI.csproj
#:property UsesTorchBackend=true
#:property PublishAot=false

using System.Diagnostics;
using System.Reflection;
using BitTtt;
using BitTtt.Inference;
using BitTtt.MLNet;
using BitTtt.Tokenization;
using Microsoft.Extensions.AI;
using Microsoft.ML;

// ## 1. Find (or make) the model to start from
string here = (string)AppContext.GetData("EntryPointFileDirectoryPath")!;
bool tiny = args.Contains("--tiny") || Environment.GetEnvironmentVariable("BITLLAMA_SAMPLES_TINY") == "1";
int outAt = Array.IndexOf(args, "--output");
string output = Path.GetFullPath(outAt >= 0 && outAt + 1 < args.Length ? args[outAt + 1] : Path.Combine(here, "output"));
string baseModel = Path.Combine(output, "model.bitt");
if (!File.Exists(baseModel))
{
    Console.WriteLine($"{baseModel} is missing: training a tiny one with 01-train.cs --tiny first");
    string configuration = Assembly.GetEntryAssembly()?.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
    using var child = Process.Start("dotnet", ["run", "-c", configuration, Path.Combine(here, "01-train.cs"), "--", "--tiny", "--output", output]);
    child.WaitForExit();
    if (child.ExitCode != 0) throw new InvalidOperationException($"01-train.cs failed with exit code {child.ExitCode}");
}

// ## 2. The conversations, one per row
// Each line of the .jsonl file is {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}.
// The last 50 are kept out of training to ask afterwards.
string[] lines = File.ReadAllLines(Path.Combine(here, "..", "..", "data", "support-chat.jsonl"));
var train = lines[..^50].Select(l => new ChatRow { Messages = l });
var heldOut = lines[^50..].Select(l => ChatData.Parse(l, "held out")).ToList();
var ml = new MLContext(seed: 1);

// ## 3. Before: the text model asked in the plain-text format
// A model without a chat template is asked "User: ...\nAssistant:" by every chat door (docs/model.md §6.4).
using (var before = Llama.LoadAuto(baseModel))
{
    var score = ChatEvaluator.Evaluate(before, tiny ? heldOut.Take(5) : heldOut);
    Console.WriteLine($"before fine-tuning: {score.ExactMatches}/{score.Replies} answers exact, reply loss {score.NatsPerToken:F3} nats/token (plain-text format)");
}

// ## 4. Fine-tune
var options = new BitLlamaOptions
{
    MessagesColumnName = nameof(ChatRow.Messages),
    InitialModel = baseModel,                      // weights, shape and tokenizer from 01's model
    ContextLen = 128, BatchSize = tiny ? 4 : 8, MaxSteps = tiny ? 10 : 2000, WarmupSteps = tiny ? 2 : 100,
    LearningRate = 2e-3, MinLearningRate = 1e-4, EvalInterval = tiny ? 5 : 250, EvalBatches = 4, Threads = 1,
    ValidationFraction = 0.05,
    Generation = SamplingOptions.Greedy(32),       // stored with the model: answers are the same at every door
};
ml.Log += (_, e) =>
{
    if (e.Source.StartsWith("BitLlama", StringComparison.Ordinal) && e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Info
        && (!e.RawMessage.StartsWith("step ", StringComparison.Ordinal) || e.RawMessage.Contains("validation", StringComparison.Ordinal)))
        Console.WriteLine($"  [{e.Source}] {e.RawMessage}");
};
using var support = ml.Transforms.BitLlama(options).Fit(ml.Data.LoadFromEnumerable(train));
var summary = support.Training!;
Console.WriteLine($"fine-tuned {summary.Steps} steps: reply loss {summary.InitialValidationLoss:F3} -> {summary.ValidationLoss:F3} nats/token on held-out replies");

// ## 5. After: ask
// The chat client formats the messages with the model's template and stops at its end-of-turn token.
var after = ChatEvaluator.Evaluate(support.Model, tiny ? heldOut.Take(5) : heldOut);
Console.WriteLine($"after fine-tuning: {after.ExactMatches}/{after.Replies} answers exact, reply loss {after.NatsPerToken:F3} nats/token");
using IChatClient chat = support.Model.AsChatClient();
ChatMessage[] ask =
[
    new(ChatRole.System, "Account card. Plan: Platinum. Agent: Kenji. Ticket: 314. Region: Oslo. Renewal: June 3."),
    new(ChatRole.User, "Which plan am I on?"),
];
ChatResponse reply = await chat.GetResponseAsync(ask);
Console.WriteLine($"asked \"Which plan am I on?\" with a card it never saw: \"{reply.Text}\" ({reply.FinishReason})");
// The same conversation continues with only its new message: the TTT memory holds the card.
reply = await chat.GetResponseAsync([new ChatMessage(ChatRole.User, "Who is my support agent?")], new ChatOptions { ConversationId = reply.ConversationId });
Console.WriteLine($"then \"Who is my support agent?\": \"{reply.Text}\"");

// ## 6. Save it
// The .bitt holds the template: `bit-llama chat support.bitt --system "Account card. ..."` and the web app
// (samples/BusinessApp --model support.bitt, POST /v1/chat) answer with it the same way.
string saved = Path.Combine(output, "support.bitt");
ml.Model.SaveAsBitt(support, saved);
Console.WriteLine($"saved {saved}");

sealed class ChatRow
{
    public string Messages { get; set; } = "";
}
