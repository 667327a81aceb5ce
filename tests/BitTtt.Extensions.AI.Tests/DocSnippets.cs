// The C# blocks of docs/apps.md, compiled here. DocSnippetTests checks that every block of the doc appears in
// this file (whitespace aside), so the doc cannot drift from code that compiles.
#pragma warning disable CS8321, IDE0051
using System.ClientModel;
using BitTtt.Extensions.AI;
using BitTtt.Inference;
using BitTtt.MLNet;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.ML;
using OpenAI;

namespace BitTtt.Extensions.AI.Tests;

internal static class DocSnippets
{
    static async Task ChatWithAModel(string modelPath)
    {
        using var llama = Llama.LoadAuto(modelPath);
        using IChatClient chat = llama.AsChatClient();
        ChatResponse first = await chat.GetResponseAsync("Where did the whale swim?", new ChatOptions { MaxOutputTokens = 64 });
        Console.WriteLine(first.Text);
        // Continue the conversation: only the new message, and the id from the first response.
        var next = new ChatOptions { ConversationId = first.ConversationId, Temperature = 0.7f, Seed = 1 };
        await foreach (ChatResponseUpdate update in chat.GetStreamingResponseAsync("And then?", next))
            Console.Write(update.Text);
    }

    static async Task AskAChatModel(Llama llama)
    {
        // llama.ChatFormat is the stored template (null for a model trained on text only).
        using IChatClient chat = llama.AsChatClient();
        ChatResponse answer = await chat.GetResponseAsync(
        [
            new ChatMessage(ChatRole.System, "Account card. Plan: Gold. Agent: Priya."),
            new ChatMessage(ChatRole.User, "Which plan am I on?"),
        ]);
        Console.WriteLine(answer.Text);   // ends where the model ended its turn
    }

    sealed class BracketTemplate : IChatTemplate
    {
        public IReadOnlyList<string> StopSequences { get; } = ["\n[user]"];

        public string Format(IReadOnlyList<ChatMessage> messages) =>
            string.Concat(messages.Select(m => $"[{m.Role}] {m.Text}\n")) + "[assistant]";
    }

    static BitLlamaChatClient KeepConversations(Llama llama) => llama.AsChatClient(new BitLlamaChatClientOptions
    {
        Template = new BracketTemplate(),
        MaxConversations = 100,           // live sessions; the least recently used beyond this is evicted...
        MemoryDirectory = "memories",     // ...to memories/{id}.bttm, and read back on its next turn
        Defaults = llama.DefaultSampling with { Temperature = 0.7f, MaxTokens = 200 },   // the model's, two changed
    });

    static void SaveAndReset(BitLlamaChatClient chat, string conversationId)
    {
        chat.SaveMemory(conversationId, "customer-42.bttm");   // what the conversation has learned, as a file
        chat.ResetConversation(conversationId);               // same id, empty memory
    }

    static void Register(IServiceCollection services, IConfiguration configuration)
    {
        services.AddBitLlama(configuration.GetSection("BitLlama"));   // Llama, BitLlamaChatClient and IChatClient, singletons
    }

    sealed class SupportService(IChatClient chat)
    {
        public async Task<string> AnswerAsync(string question, CancellationToken cancellationToken) =>
            (await chat.GetResponseAsync(question, cancellationToken: cancellationToken)).Text;
    }

    sealed class Ticket
    {
        public string Text { get; set; } = "";
    }

    sealed class Draft
    {
        public string Completion { get; set; } = "";
    }

    static void RegisterWithMLNet(IServiceCollection services)
    {
        services.AddBitLlamaPredictionEnginePool<Ticket, Draft>("support.bitt")          // loads the .bitt once, as a BitLlamaTransformer
                .AddBitLlama(sp => sp.GetRequiredService<BitLlamaTransformer>().Model);   // the chat client on the same weights
    }

    static IChatClient FromMLNet(MLContext ml, ITransformer model) => ml.Model.CreateTextGenerator(model).Model.AsChatClient();

    internal static async Task<string> AskOverTheOpenAiWire(Uri server, string model)   // server: e.g. http://127.0.0.1:5080/v1
    {
        var openAi = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = server });
        // The official SDK's chat client...
        OpenAI.Chat.ChatCompletion answer = await openAi.GetChatClient(model).CompleteChatAsync(
            [new OpenAI.Chat.UserChatMessage("Where did the whale swim?")], new OpenAI.Chat.ChatCompletionOptions { MaxOutputTokenCount = 32 });
        Console.WriteLine(answer.Content[0].Text);
        // ...or Microsoft.Extensions.AI's IChatClient over it. The API is stateless: each turn sends the whole history,
        // and the server's prefix cache feeds only what is new.
        IChatClient chat = openAi.GetChatClient(model).AsIChatClient();
        List<ChatMessage> history = [new(ChatRole.User, "Where did the whale swim?")];
        ChatResponse first = await chat.GetResponseAsync(history, new ChatOptions { MaxOutputTokens = 32 });
        history.AddRange(first.Messages);
        history.Add(new(ChatRole.User, "And then?"));
        var reply = new System.Text.StringBuilder();
        await foreach (ChatResponseUpdate update in chat.GetStreamingResponseAsync(history, new ChatOptions { MaxOutputTokens = 32 }))
            reply.Append(update.Text);
        return reply.ToString();
    }

    static async Task SessionsAndCancellation(Llama llama, CancellationToken cancellationToken)
    {
        using var session = llama.CreateSession();
        await session.LearnAsync("The Pequod sailed from Nantucket.", cancellationToken);
        await foreach (string piece in session.CompleteStreamingAsync("The Pequod", SamplingOptions.Greedy(32), cancellationToken))
            Console.Write(piece);   // each step ran on the thread pool; cancelling stops before the next token
    }
}
