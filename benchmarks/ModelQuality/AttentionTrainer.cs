using BitTtt.Training;
using TorchSharp;
using static TorchSharp.torch;

// Trains the attention yardstick with BitLlamaTrainer's recipe, piece for piece: the same seeded
// initialization order, the same SplitMix64 window sampler (so the same batches in the same order), the
// same AdamW, schedule and clipping (the product's internal classes, visible to this benchmark). The loop
// below mirrors BitLlamaTrainer.Train/TrainStep without checkpoints; keep the two in step.
//
// Shape key (docs/model.md): B = batch, T = time (context tokens per row), V = vocab.

static class AttentionTrainer
{
    public static AttentionModel Train(TrainingOptions options, int vocabSize, TokenFile train, Action<int, double>? progress = null)
    {
        options.Validate();
        var config = options.ToConfig(vocabSize);
        torch.set_num_threads(options.Threads > 0 ? options.Threads : Environment.ProcessorCount);
        manual_seed(options.EffectiveSeed);
        var model = new AttentionModel(config);
        using var optimizer = new AdamW(model.named_parameters(), options.WeightDecay);
        var sampler = WindowSampler.FromSeed(options.EffectiveSeed);
        int window = options.ContextLen + 1;
        // A corpus of examples (conversations) is drawn example by example with the assistant replies' mask, as the trainer does.
        var examples = train.HasFlags ? new ExampleWindows(train, window, options.TrainOnAllTokens) : null;
        for (int step = 0; step < options.MaxSteps; step++)
        {
            double lr = LearningRateSchedule.At(step, options.MaxSteps, options.LearningRate, options.MinLearningRate, options.WarmupSteps);
            var (ids, mask) = examples is null ? (sampler.NextBatch(train, options.BatchSize, window), null) : sampler.NextExampleBatch(examples, options.BatchSize, window);
            double loss = Step(model, optimizer, ids, mask, lr, options.GradientClip);
            if (!double.IsFinite(loss))
                throw new InvalidOperationException($"attention: training loss became {loss} at step {step + 1}; try a lower --lr");
            progress?.Invoke(step + 1, loss);
        }
        return model;
    }

    static double Step(AttentionModel model, AdamW optimizer, long[] ids, float[]? mask, double lr, double clip)
    {
        using var scope = NewDisposeScope();
        long window = model.Config.ContextLen + 1, batch = ids.Length / window;
        var tokens = tensor(ids, [batch, window]);                              // (B, T + 1)
        var logits = model.forward(tokens.narrow(1, 0, window - 1));            // (B, T, V)
        var lossTensor = BitLlamaTrainer.Loss(logits, tokens, mask, CPU);
        double loss = lossTensor.item<float>();
        if (!double.IsFinite(loss)) return loss;
        lossTensor.backward();
        optimizer.ClipGradients(clip);
        optimizer.Step(lr);
        model.zero_grad();
        return loss;
    }
}
