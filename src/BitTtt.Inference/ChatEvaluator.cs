using System.Text;
using BitTtt.Tokenization;

namespace BitTtt.Inference;

/// <summary>What <see cref="ChatEvaluator"/> measured on a set of conversations.</summary>
/// <param name="Conversations">Conversations read.</param>
/// <param name="Replies">Assistant messages scored (those training learns: weight 0 ones are left out).</param>
/// <param name="ReplyTokens">Tokens the loss was taken over: each reply's tokens and what ends it.</param>
/// <param name="NatsPerToken">Mean −ln p of those tokens, each reply after the whole conversation before it.</param>
/// <param name="ExactMatches">Greedy replies equal to the reference after whitespace is normalised.</param>
/// <param name="Chat">True when the model's stored template was used; false: the plain-text format (docs/model.md §6.4).</param>
public sealed record ChatEvaluation(int Conversations, int Replies, long ReplyTokens, double NatsPerToken, int ExactMatches, bool Chat)
{
    /// <summary><see cref="ExactMatches"/> / <see cref="Replies"/>.</summary>
    public double ExactMatchRate => Replies == 0 ? 0 : (double)ExactMatches / Replies;
}

/// <summary>
/// Scores a model's answers on conversations, through the same door every chat client uses (<see cref="LlamaSession.Reply"/>):
/// for every assistant message, the conversation before it is the prompt (in a fresh session, as a client sending the
/// whole history), and
/// <list type="bullet">
/// <item>the loss is the mean −ln p of the reference reply's tokens after that prompt: with a chat template, the reply's
/// text and the end-of-turn token (what training counts, docs/model.md §6.3); in the plain-text format, <c>" " + text + "\n"</c>
/// after <c>Assistant:</c>, what the model must write before the next line;</item>
/// <item>the exact match compares the greedy reply with the reference, both with runs of whitespace made one space and
/// the ends trimmed.</item>
/// </list>
/// The same set scored on a model before and after fine-tuning shows what the fine-tuning changed.
/// </summary>
public static class ChatEvaluator
{
    /// <summary>Scores <paramref name="conversations"/>; a greedy reply is cut at <paramref name="maxReplyTokens"/> tokens (0: twice the reference's, at least 16).</summary>
    public static ChatEvaluation Evaluate(Llama model, IEnumerable<IReadOnlyList<ChatTurn>> conversations, int maxReplyTokens = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(conversations);
        if (maxReplyTokens < 0) throw new ArgumentOutOfRangeException(nameof(maxReplyTokens), $"must be >= 0 (0 = twice the reference reply), got {maxReplyTokens}");
        int count = 0, replies = 0, exact = 0;
        long tokens = 0;
        double loss = 0;
        foreach (var conversation in conversations)
        {
            count++;
            for (int k = 0; k < conversation.Count; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var reply = conversation[k];
                if (reply.Role != ChatTurn.Assistant || !reply.Train || k == 0) continue;
                var before = conversation.Take(k).ToArray();
                var (prompt, target) = Split(model, before, reply.Content);
                double[] losses = ModelEvaluator.TokenLosses(model, [.. prompt, .. target]);
                for (int t = losses.Length - target.Length; t < losses.Length; t++) loss += losses[t];
                tokens += target.Length;
                int limit = maxReplyTokens > 0 ? maxReplyTokens : Math.Max(16, 2 * target.Length);
                using var session = model.CreateSession();
                string answer = session.Reply(before, SamplingOptions.Greedy(limit), cancellationToken).Text;
                if (Normalize(answer) == Normalize(reply.Content)) exact++;
                replies++;
            }
        }
        return new ChatEvaluation(count, replies, tokens, tokens == 0 ? double.NaN : loss / tokens, exact, model.ChatFormat is not null);
    }

    /// <summary>The prompt a reply is generated from and the reference reply's tokens after it.</summary>
    static (int[] Prompt, int[] Target) Split(Llama model, IReadOnlyList<ChatTurn> before, string reply)
    {
        if (model.ChatFormat is { } format)
            return (format.EncodeReply(before), [.. model.Tokenizer.Encode(reply, parseSpecialTokens: false), format.EndOfTurnId]);
        return (model.Tokenizer.Encode(ChatFormat.PlainTextPrompt(before)), model.Tokenizer.Encode(" " + reply + "\n", parseSpecialTokens: false));
    }

    /// <summary>Runs of whitespace become one space; the ends are trimmed.</summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder(text.Length);
        bool space = false;
        foreach (char c in text.Trim())
        {
            if (char.IsWhiteSpace(c)) { space = true; continue; }
            if (space) sb.Append(' ');
            space = false;
            sb.Append(c);
        }
        return sb.ToString();
    }
}
