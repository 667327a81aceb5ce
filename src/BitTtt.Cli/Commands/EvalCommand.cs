using System.CommandLine;
using System.Globalization;
using BitTtt.Inference;
using BitTtt.Tokenization;

namespace BitTtt.Cli.Commands;

/// <summary>
/// <c>bit-llama eval MODEL --data FILE [--train-data FILE]</c>: nats/token, bits per byte, perplexity and the
/// in-context copy score of a model on a text (managed engine), and the n-gram baselines when the training
/// text is given. On conversations (a .jsonl file, told by its content): the loss on the assistant replies and the
/// exact-match rate of greedy answers (<see cref="ChatEvaluator"/>), beside a <c>--compare</c> model's (the model before
/// fine-tuning). See docs/evaluation.md.
/// </summary>
internal sealed class EvalCommand : ICliCommand
{
    public int Order => 35;

    public Command Create()
    {
        var model = new Argument<string>("model") { Description = "A .bitt file or a model directory." };
        var data = new Option<string>("--data") { Description = "UTF-8 text to score (streamed through one session)", Required = true };
        var train = new Option<string?>("--train-data") { Description = "the training text: also count the n-gram baselines (unigram, KN-bigram, KN-trigram) on it" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "score at most this many tokens from the start of --data (0 = all)", DefaultValueFactory = _ => new EvaluationOptions().MaxTokens };
        var copyTokens = new Option<int>("--copy-tokens") { Description = "tokens of the copy-score passage (0 = the model's context_len)", DefaultValueFactory = _ => 0 };
        var compare = new Option<string?>("--compare") { Description = "conversations only: score this model too, side by side (e.g. the model before fine-tuning)" };
        var command = new Command("eval", "Score a model on a text (nats/token, bits per byte, perplexity, copy score and n-gram baselines) or on conversations (reply loss and exact-match answers).")
        {
            model, data, train, maxTokens, copyTokens, compare,
        };
        command.SetAction(r => CliCommands.Run(() =>
        {
            string dataPath = r.Get(data);
            if (File.Exists(dataPath) && ChatData.IsChatFile(dataPath))
            {
                foreach (var textOnly in new Option[] { train, maxTokens, copyTokens })
                    if (r.GetResult(textOnly) is { Implicit: false })
                        throw new ArgumentException($"{textOnly.Name} applies to a text; {dataPath} holds conversations");
                return RunChat(r.GetValue(model)!, dataPath, r.GetValue(compare));
            }
            if (r.GetValue(compare) is not null) throw new ArgumentException($"--compare applies to conversations; {dataPath} is a text");
            return Run(r.GetValue(model)!, dataPath, r.GetValue(train), new EvaluationOptions { MaxTokens = r.Get(maxTokens), CopyPassageTokens = r.Get(copyTokens) });
        }).GetAwaiter().GetResult());
        return command;
    }

    /// <summary>The reply loss and exact-match answers of MODEL (and of --compare) on the conversations of <paramref name="dataPath"/>.</summary>
    static int RunChat(string modelPath, string dataPath, string? comparePath)
    {
        var conversations = ChatData.Read(dataPath).Select(e => e.Messages).ToList();   // every line checked before a model loads
        var inv = CultureInfo.InvariantCulture;
        var rows = new List<(string Name, ChatEvaluation Score)>();
        foreach (string path in comparePath is null ? [modelPath] : new[] { modelPath, comparePath })
        {
            using var llama = Llama.LoadAuto(path);
            rows.Add((path, ChatEvaluator.Evaluate(llama, conversations)));
        }
        var first = rows[0].Score;
        Console.WriteLine(string.Create(inv, $"{dataPath}: {first.Conversations:N0} conversations, {first.Replies:N0} assistant replies, each after the conversation before it (greedy answers)"));
        int width = Math.Max(5, rows.Max(x => x.Name.Length));
        Console.WriteLine($"{"model".PadRight(width)}  format      reply loss (nats/token)  exact match");
        foreach (var (name, s) in rows)
            Console.WriteLine(string.Create(inv,
                $"{name.PadRight(width)}  {(s.Chat ? "template  " : "plain text")}  {s.NatsPerToken,11:0.0000} over {s.ReplyTokens,6:N0}  {s.ExactMatches}/{s.Replies} ({s.ExactMatchRate:P1})"));
        if (rows.Any(x => !x.Score.Chat))
            Console.WriteLine("plain text: a model without a chat template is asked in the plain-text format (docs/model.md §6.4); its reply loss is over \" \" + reply + \"\\n\"");
        return 0;
    }

    static int Run(string modelPath, string dataPath, string? trainPath, EvaluationOptions options)
    {
        if (options.MaxTokens < 0) throw new ArgumentException($"--max-tokens must be >= 0 (0 = all), got {options.MaxTokens}");
        if (options.CopyPassageTokens < 0) throw new ArgumentException($"--copy-tokens must be >= 0 (0 = context_len), got {options.CopyPassageTokens}");
        // Check the texts before loading the model, so a bad file fails fast.
        string text = ModelEvaluator.ReadText(dataPath, "--data");
        string? trainText = trainPath is null ? null : ModelEvaluator.ReadText(trainPath, "--train-data");
        using var llama = Llama.LoadAuto(modelPath);
        var r = ModelEvaluator.Evaluate(llama, text, trainText, options, dataPath);
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv,
            $"{dataPath}: {r.TextTokens:N0} tokens{(r.Truncated ? $" (the first {r.TextTokens:N0}; --max-tokens)" : "")}, {r.ScoredTokens:N0} scored ({r.ScoredBytes:N0} bytes), continuously through one session"));
        Console.WriteLine(string.Create(inv, $"loss {r.NatsPerToken:0.0000} nats/token   {r.BitsPerByte:0.0000} bits/byte   perplexity {r.Perplexity:0.00}"));
        Console.WriteLine(string.Create(inv,
            $"copy score {r.Copy.Ratio:0.000}: a {r.Copy.PassageTokens}-token passage fed twice, loss {r.Copy.FirstCopyLoss:0.0000} on the first copy, {r.Copy.SecondCopyLoss:0.0000} on the second"));
        if (r.Baselines is { } b)
        {
            Console.WriteLine(string.Create(inv, $"baselines counted on {trainPath} ({r.BaselineTrainTokens:N0} tokens), nats/token: {b}"));
            Console.WriteLine(b.Verdict(r.NatsPerToken, "model"));
        }
        return 0;
    }
}
