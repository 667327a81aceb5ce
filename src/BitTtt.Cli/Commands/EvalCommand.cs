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
        var heldOut = new Option<bool>("--held-out") { Description = "score only the part of --data that train holds out for validation (its last 5% by bytes, from a line start)" };
        var compareHeads = new Option<bool>("--compare-lm-heads") { Description = "score the text with the int8 and the fp32 LM head and print the difference (the int8 head's cost)" };
        var heads = new EngineArguments();
        var compare = new Option<string?>("--compare") { Description = "conversations only: score this model too, side by side (e.g. the model before fine-tuning)" };
        var command = new Command("eval", "Score a model on a text (nats/token, bits per byte, perplexity, copy score and n-gram baselines) or on conversations (reply loss and exact-match answers).")
        {
            model, data, train, maxTokens, copyTokens, heldOut, compareHeads, compare,
        };
        heads.AddTo(command);
        command.SetAction(r => CliCommands.Run(() =>
        {
            string dataPath = r.Get(data);
            if (File.Exists(dataPath) && ChatData.IsChatFile(dataPath))
            {
                foreach (var textOnly in new Option[] { train, maxTokens, copyTokens, heldOut, compareHeads })
                    if (r.GetResult(textOnly) is { Implicit: false })
                        throw new ArgumentException($"{textOnly.Name} applies to a text; {dataPath} holds conversations");
                return RunChat(r.GetValue(model)!, dataPath, r.GetValue(compare), heads.Read(r));
            }
            if (r.GetValue(compare) is not null) throw new ArgumentException($"--compare applies to conversations; {dataPath} is a text");
            return Run(r.GetValue(model)!, dataPath, r.GetValue(train), new EvaluationOptions { MaxTokens = r.Get(maxTokens), CopyPassageTokens = r.Get(copyTokens) },
                r.Get(heldOut), r.Get(compareHeads), heads.Read(r));
        }).GetAwaiter().GetResult());
        return command;
    }

    /// <summary>The reply loss and exact-match answers of MODEL (and of --compare) on the conversations of <paramref name="dataPath"/>.</summary>
    static int RunChat(string modelPath, string dataPath, string? comparePath, InferenceOptions engine)
    {
        var conversations = ChatData.Read(dataPath).Select(e => e.Messages).ToList();   // every line checked before a model loads
        var inv = CultureInfo.InvariantCulture;
        var rows = new List<(string Name, ChatEvaluation Score)>();
        foreach (string path in comparePath is null ? [modelPath] : new[] { modelPath, comparePath })
        {
            using var llama = Llama.LoadAuto(path, engine);
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

    static int Run(string modelPath, string dataPath, string? trainPath, EvaluationOptions options, bool heldOut, bool compareHeads, InferenceOptions engine)
    {
        if (options.MaxTokens < 0) throw new ArgumentException($"--max-tokens must be >= 0 (0 = all), got {options.MaxTokens}");
        if (options.CopyPassageTokens < 0) throw new ArgumentException($"--copy-tokens must be >= 0 (0 = context_len), got {options.CopyPassageTokens}");
        // Check the texts before loading the model, so a bad file fails fast.
        string text = heldOut ? Training.TokenCorpus.HeldOutText(dataPath) : ModelEvaluator.ReadText(dataPath, "--data");
        string? trainText = trainPath is null ? null : ModelEvaluator.ReadText(trainPath, "--train-data");
        if (compareHeads) return CompareHeads(modelPath, dataPath, text, options);
        using var llama = Llama.LoadAuto(modelPath, engine);
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

    /// <summary>The same text scored with each LM head: the int8 head's quality cost in nats/token.</summary>
    static int CompareHeads(string modelPath, string dataPath, string text, EvaluationOptions options)
    {
        var inv = CultureInfo.InvariantCulture;
        var loss = new Dictionary<bool, EvaluationResult>();
        foreach (bool int8 in new[] { false, true })
        {
            using var llama = Llama.LoadAuto(modelPath, new InferenceOptions { Int8LmHead = int8 });
            loss[int8] = ModelEvaluator.Evaluate(llama, text, null, options with { CopyPassageTokens = 16 }, dataPath);
        }
        double delta = loss[true].NatsPerToken - loss[false].NatsPerToken;
        Console.WriteLine(string.Create(inv, $"{dataPath}: {loss[true].ScoredTokens:N0} tokens scored, continuously through one session"));
        Console.WriteLine(string.Create(inv, $"fp32 LM head  {loss[false].NatsPerToken:0.000000} nats/token"));
        Console.WriteLine(string.Create(inv, $"int8 LM head  {loss[true].NatsPerToken:0.000000} nats/token"));
        Console.WriteLine(string.Create(inv, $"int8 - fp32   {delta:+0.000000;-0.000000} nats/token ({delta / loss[false].NatsPerToken:+0.0000%;-0.0000%})"));
        return 0;
    }
}
