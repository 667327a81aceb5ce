using System.CommandLine;
using BitTtt.Inference;
using BitTtt.Tokenization;

namespace BitTtt.Cli.Commands;

/// <summary>
/// <c>bit-llama chat MODEL</c>: reads lines from stdin; each line is a turn whose reply is streamed to
/// stdout. The TTT memory carries across turns. A model with a chat template (docs/model.md §6) gets each line as a
/// user message (after <c>--system</c> on the first turn) through <see cref="LlamaSession.Reply"/>, and its reply ends
/// at the end-of-turn token; a model without one continues each line as text, as it always did.
/// Commands: <c>/reset</c>, <c>/save FILE</c>, <c>/load FILE</c>, <c>/quit</c>.
/// </summary>
internal sealed class ChatCommand : ICliCommand
{
    public int Order => 31;

    public Command Create()
    {
        var model = new Argument<string>("model") { Description = "A .bitt file or a model directory" };
        var sampling = new SamplingArguments();
        var engine = new EngineArguments();
        var system = new Option<string?>("--system") { Description = "A system message before the first turn (and after /reset); needs a model with a chat template" };
        var command = new Command("chat", "Interactive generation that keeps its TTT memory across turns (/reset, /save FILE, /load FILE, /quit)") { model };
        sampling.AddTo(command);
        engine.AddTo(command);
        command.Options.Add(system);
        command.SetAction((r, ct) => CliCommands.RunAsync(async ct =>
        {
            var overrides = sampling.Read(r);
            string path = r.GetValue(model)!;
            using var llama = Llama.LoadAuto(path, engine.Read(r));
            var options = llama.DefaultSampling.With(overrides);   // the model's defaults, with the flags given
            string? instructions = r.GetValue(system);
            if (instructions is not null && llama.ChatFormat is null)
                throw new ArgumentException($"--system: {path} has no chat template (docs/model.md §6), so its chat continues each line as text; train it on conversations to give it one");
            using var session = llama.CreateSession();
            using var stdout = new StreamWriter(Console.OpenStandardOutput(), new System.Text.UTF8Encoding(false)) { AutoFlush = true };
            bool interactive = !Console.IsInputRedirected;
            while (!ct.IsCancellationRequested)
            {
                if (interactive) await stdout.WriteAsync("> ");
                string? line = await Console.In.ReadLineAsync(ct);
                if (line is null || line.Trim() == "/quit") break;
                string? reply = Command(session, line.Trim());
                if (reply is not null)
                {
                    await stdout.WriteLineAsync(reply);
                    continue;
                }
                if (line.Length == 0) continue;
                if (llama.ChatFormat is null)
                {
                    await foreach (var piece in session.CompleteStreamingAsync(line + "\n", options, ct))
                        await stdout.WriteAsync(piece);
                }
                else
                {
                    List<ChatTurn> turn = [new(ChatTurn.User, line)];
                    if (session.Position == 0 && instructions is not null) turn.Insert(0, new ChatTurn(ChatTurn.System, instructions));
                    await foreach (var update in session.ReplyStreamingAsync(turn, options, ct))
                        await stdout.WriteAsync(update.Text);
                }
                await stdout.WriteLineAsync();
            }
            return 0;
        }, ct));
        return command;
    }

    /// <summary>Runs a /command and returns its one-line answer, or null when the line is not a command.</summary>
    static string? Command(LlamaSession session, string line)
    {
        if (!line.StartsWith('/')) return null;
        string[] parts = line.Split(' ', 2, StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        string? arg = parts.Length > 1 ? parts[1] : null;
        try
        {
            switch (parts[0])
            {
                case "/reset":
                    session.ResetState();
                    return "[memory reset]";
                case "/save" when arg is not null:
                    session.SaveMemory(arg);
                    return $"[memory saved to {arg}]";
                case "/load" when arg is not null:
                    session.LoadMemory(arg);
                    return $"[memory loaded from {arg}, {session.Position} tokens]";
                case "/save" or "/load":
                    return $"[usage: {parts[0]} FILE]";
                default:
                    return $"[unknown command {parts[0]}; commands: /reset, /save FILE, /load FILE, /quit]";
            }
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return $"[error: {e.Message}]";   // a bad memory file must not end the conversation
        }
    }
}
