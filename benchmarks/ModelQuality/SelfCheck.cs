using BitTtt.Tokenization;
using BitTtt.Training;
using static TorchSharp.torch;

// `ModelQuality self-check`: the scores of Scores.cs on two hand-built predictors whose answers are known,
// in seconds and without training, so a broken score cannot pass for "the model shows no recall":
//   induction  predicts, after token x, the token that followed the latest earlier x (Olsson et al.'s
//              induction head as a lookup): recall score and query-value loss far below 1 and ln V; its copy
//              score is only moderately below 1 on MQAR text, where separators and keys repeat, so the latest
//              earlier occurrence is often not the aligned one
//   unigram    ignores the context: copy score 1 and query-value loss ln |values| up to sampling noise
//
// Shape key (docs/model.md): B = batch, T = time, V = vocab.

static class SelfCheck
{
    public static int Run(Arguments a)
    {
        string dir = Path.Combine(a.Work, "self-check");
        Directory.CreateDirectory(dir);
        var recall = new RecallText(a.Pairs, a.Keys, a.Values, RecallLayout.FromCorpusName(a.Layout) ?? throw new ArgumentException($"--layout: unknown layout '{a.Layout}'"));
        string text = Path.Combine(dir, "recall.txt");
        recall.Write(text, 2000, a.RecallSeed);
        var tokenizer = BitLlamaTokenizer.FromJson(BpeTrainer.TrainFromFiles([text], new BpeTrainerOptions { VocabSize = a.VocabSize }), "self-check tokenizer");
        string trainPath = Path.Combine(dir, "tokens.bin"), validationPath = Path.Combine(dir, "val.bin");
        TokenCorpus.Encode(text, tokenizer, trainPath, validationPath);
        using var validation = TokenFile.Open(validationPath);
        int v = tokenizer.VocabSize, context = a.ContextLen;
        bool ok = true;
        foreach (var (name, forward) in new (string, Func<Tensor, Tensor>)[] { ("induction", ids => Induction(ids, v)), ("unigram", ids => zeros(ids.shape[0], ids.shape[1], v)) })
        {
            double copy = Scores.CopyScore(forward, validation, context);
            var (score, queryValue) = Scores.RecallScore(forward, tokenizer, recall, context, seed: a.RecallSeed + 1);
            // With one set of words for keys and values a query key may also stand as a value in the listing; the
            // lookup then answers with what followed that value (about one query in ten for 6 pairs over 64 words).
            bool pass = name == "induction"
                ? copy < 0.9 && score < (recall.Layout.Shared ? 0.8 : 0.7) && queryValue < (recall.Layout.Shared ? 1.0 : 0.5)
                : Math.Abs(copy - 1) < 0.02 && Math.Abs(queryValue - Math.Log(v)) < 0.02;
            Console.WriteLine($"{name}: copy score {copy:F3}, recall score {score:F3}, query-value loss {queryValue:F3} (ln V = {Math.Log(v):F3}) -> {(pass ? "ok" : "WRONG")}");
            ok &= pass;
        }
        return ok ? 0 : 1;
    }

    /// <summary>(B, T) ids -> (B, T, V) logits: 10 on the token that followed the latest earlier occurrence of the current token, else 0.</summary>
    static Tensor Induction(Tensor ids, int vocab)
    {
        long b = ids.shape[0], t = ids.shape[1];
        var flat = ids.contiguous().data<long>().ToArray();
        var logits = new float[b * t * vocab];
        for (long r = 0; r < b; r++)
        {
            var last = new Dictionary<long, long>();                             // token -> latest position seen before
            for (long i = 0; i < t; i++)
            {
                long token = flat[r * t + i];
                if (last.TryGetValue(token, out long j)) logits[(r * t + i) * vocab + flat[r * t + j + 1]] = 10;
                last[token] = i;
            }
        }
        return tensor(logits, [b, t, vocab]);
    }
}
