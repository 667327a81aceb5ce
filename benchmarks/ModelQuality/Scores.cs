using BitTtt.Tokenization;
using BitTtt.Training;
using TorchSharp;
using static TorchSharp.torch;

// The three measurements of a trained model, each from a zero mixer state per sequence:
//   validation loss  mean next-token cross-entropy over the whole validation file, cut into consecutive
//                    windows of context_len + 1 tokens (every token but the first of a window is scored)
//   copy score       a validation passage of context_len / 2 tokens fed twice: mean loss on the second
//                    copy ÷ mean loss on the first (the first token of each copy not scored). 1 = the model
//                    makes no use of having just seen the passage; near 0 = it copies.
//   recall score     on fresh MQAR lines (RecallText, a seed never trained on): mean loss on the keys and
//                    values of the query half ÷ mean loss on those of the listing half (separators and headers
//                    are not scored). Also the mean loss on the query half's value tokens alone: ln |values|
//                    without recall, 0 with perfect recall.
//
// Shape key (docs/model.md): B = batch, T = time, V = vocab.

static class Scores
{
    const int Batch = 16;

    /// <summary>Per-token cross-entropy (nats) of predicting ids[:, 1:] from ids[:, :-1]: (B, T + 1) -> (B, T) on the CPU.</summary>
    static float[,] TokenLosses(Func<Tensor, Tensor> forward, long[][] rows)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        int b = rows.Length, t = rows[0].Length;
        var ids = tensor(rows.SelectMany(r => r).ToArray(), [b, t]);           // (B, T + 1)
        var logits = forward(ids.narrow(1, 0, t - 1));                          // (B, T, V)
        var losses = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[2]), ids.narrow(1, 1, t - 1).reshape(-1),
            reduction: nn.Reduction.None).reshape(b, t - 1);                    // (B, T)
        var flat = losses.data<float>().ToArray();
        var result = new float[b, t - 1];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(float));
        return result;
    }

    public static double ValidationLoss(Func<Tensor, Tensor> forward, TokenFile validation, int context)
    {
        int window = context + 1;
        long windows = validation.Count / window;
        if (windows == 0) throw new ArgumentException($"{validation.FilePath}: {validation.Count} validation tokens, fewer than one window of {window}");
        double sum = 0;
        long count = 0;
        var buffer = new int[window];
        for (long first = 0; first < windows; first += Batch)
        {
            var rows = new long[(int)Math.Min(Batch, windows - first)][];
            for (int i = 0; i < rows.Length; i++)
            {
                validation.CopyTo((first + i) * window, buffer);
                rows[i] = buffer.Select(x => (long)x).ToArray();
            }
            var losses = TokenLosses(forward, rows);
            foreach (float l in losses) sum += l;
            count += losses.Length;
        }
        return sum / count;
    }

    public static double CopyScore(Func<Tensor, Tensor> forward, TokenFile validation, int context, int passages = 32)
    {
        int length = context / 2;
        if (length < 2 || validation.Count < length) throw new ArgumentException($"copy score: needs passages of context/2 >= 2 tokens and as many validation tokens, got context {context}, {validation.Count} tokens");
        var buffer = new int[length];
        var rows = new long[passages][];
        for (int p = 0; p < passages; p++)
        {
            validation.CopyTo((validation.Count - length) * p / Math.Max(1, passages - 1), buffer);
            rows[p] = [.. buffer.Select(x => (long)x), .. buffer.Select(x => (long)x)];   // the passage twice: 2L tokens
        }
        double first = 0, second = 0;
        foreach (var chunk in rows.Chunk(Batch))
        {
            var losses = TokenLosses(forward, chunk);                           // (b, 2L - 1): position j predicts token j + 1
            for (int r = 0; r < chunk.Length; r++)
                for (int j = 0; j < length - 1; j++)
                {
                    first += losses[r, j];                                      // tokens 1 .. L-1 of the first copy
                    second += losses[r, length + j];                            // tokens 1 .. L-1 of the second copy
                }
        }
        return second / first;
    }

    /// <summary>The ids of one MQAR line and its newline, with the <see cref="RecallRole"/> of every token.</summary>
    public static (int[] Ids, byte[] Roles) EncodeRecallLine(BitLlamaTokenizer tokenizer, IReadOnlyList<(string Text, RecallRole Role)> line)
    {
        var ids = new List<int>();
        var roles = new List<byte>();
        foreach (var (text, role) in line.Append(("\n", RecallRole.None)))
        {
            var encoded = tokenizer.Encode(text);
            ids.AddRange(encoded);
            roles.AddRange(Enumerable.Repeat((byte)role, encoded.Length));
        }
        var whole = tokenizer.Encode(string.Concat(line.Select(p => p.Text)) + "\n");
        if (!whole.SequenceEqual(ids))
            throw new InvalidOperationException("recall score: the tokenizer merges across the words of an MQAR line; the roles of tokens would be wrong");
        return ([.. ids], [.. roles]);
    }

    /// <summary>(query ÷ listing loss, mean loss on query values) over <paramref name="lines"/> fresh lines packed into context-long rows.</summary>
    public static (double Score, double QueryValueLoss) RecallScore(Func<Tensor, Tensor> forward, BitLlamaTokenizer tokenizer, RecallText recall, int context, int seed, int lines = 256)
    {
        var rng = new Random(seed);
        var encoded = Enumerable.Range(0, lines).Select(_ => EncodeRecallLine(tokenizer, recall.Line(rng))).ToList();
        if (encoded.Max(e => e.Ids.Length) > context + 1)
            throw new ArgumentException($"recall score: an MQAR line has {encoded.Max(e => e.Ids.Length)} tokens, more than context + 1 = {context + 1}; use fewer --pairs or a longer --context-len");
        // Pack whole lines into rows of context + 1 tokens (padded by repeating the row's last line's tail, unscored).
        var rows = new List<(long[] Ids, byte[] Roles)>();
        var ids = new List<long>();
        var roles = new List<byte>();
        foreach (var (lineIds, lineRoles) in encoded)
        {
            if (ids.Count + lineIds.Length > context + 1) Flush();
            ids.AddRange(lineIds.Select(x => (long)x));
            roles.AddRange(lineRoles);
        }
        Flush();
        void Flush()
        {
            while (ids.Count < context + 1) { ids.Add(ids[^1]); roles.Add(0); }
            rows.Add(([.. ids], [.. roles]));
            ids.Clear();
            roles.Clear();
        }
        var sum = new double[4];
        var count = new long[4];
        foreach (var chunk in rows.Chunk(Batch))
        {
            var losses = TokenLosses(forward, chunk.Select(r => r.Ids).ToArray());
            for (int r = 0; r < chunk.Length; r++)
                for (int j = 0; j < context; j++)
                {
                    int role = chunk[r].Roles[j + 1];                           // position j predicts token j + 1
                    sum[role] += losses[r, j];
                    count[role]++;
                }
        }
        double listing = sum[(int)RecallRole.Listing] / count[(int)RecallRole.Listing];
        double query = (sum[(int)RecallRole.QueryKey] + sum[(int)RecallRole.QueryValue]) / (count[(int)RecallRole.QueryKey] + count[(int)RecallRole.QueryValue]);
        return (query / listing, sum[(int)RecallRole.QueryValue] / count[(int)RecallRole.QueryValue]);
    }
}
