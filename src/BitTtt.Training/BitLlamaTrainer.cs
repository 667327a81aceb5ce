using System.Diagnostics;
using BitTtt.Evaluation;
using BitTtt.Formats;
using TorchSharp;
using static TorchSharp.torch;

namespace BitTtt.Training;

// Shape key (docs/model.md): B = batch, T = time (context_len tokens per row), V = vocab.

/// <summary>What a training run produced.</summary>
public sealed class TrainingResult
{
    public required BitLlamaConfig Config { get; init; }
    /// <summary>Steps of the schedule completed so far (including steps of earlier, resumed invocations).</summary>
    public required int Step { get; init; }
    /// <summary>The step this invocation started from (0, or the checkpoint's step when resumed).</summary>
    public int StartStep { get; init; }
    /// <summary>False when the run stopped early (cancellation or <see cref="TrainingOptions.StopAfterSteps"/>).</summary>
    public required bool Completed { get; init; }
    /// <summary>Mean next-token cross-entropy (nats) on the validation windows at the final <see cref="Step"/>, when there is a validation file.</summary>
    public double? ValidationLoss { get; init; }
    /// <summary>
    /// Loss of the last step of the schedule (nats): of this invocation, or, when a resumed run had no step left to run,
    /// the one the checkpoint recorded.
    /// </summary>
    public required double TrainLoss { get; init; }
    /// <summary>The trained weights under docs/model.md §2 names, in docs/model.md order, F32.</summary>
    public required IReadOnlyList<SafeTensorData> Weights { get; init; }
    /// <summary>The checkpoint written last, or null without a checkpoint directory.</summary>
    public string? CheckpointPath { get; init; }
    /// <summary>The n-gram baselines on the same split (nats/token), when there is a validation file.</summary>
    public BaselineLosses? Baselines { get; init; }
    /// <summary><c>metrics.csv</c> in the checkpoint directory, or null without one.</summary>
    public string? MetricsPath { get; init; }
    /// <summary><c>loss.png</c> in the checkpoint directory, or null when there is none or it could not be drawn (a warning said why).</summary>
    public string? LossCurvePath { get; init; }
}

/// <summary>
/// Trains a <see cref="BitLlamaModel"/> on a tokenized corpus (docs/model.md §5): random windows of
/// <c>context_len + 1</c> tokens, AdamW, linear warmup then cosine decay, gradient clipping, periodic
/// validation loss, <c>metrics.csv</c> and <c>loss.png</c> beside the checkpoint, checkpoints every <see cref="TrainingOptions.SaveInterval"/> steps, at the end and
/// when stopped, and an exact resume.
/// </summary>
public sealed class BitLlamaTrainer
{
    readonly TrainingOptions _options;

    public BitLlamaTrainer(TrainingOptions options, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (vocabSize <= 0) throw new ArgumentException($"vocab size must be positive, got {vocabSize}", nameof(vocabSize));
        _options = options;
        Config = options.ToConfig(vocabSize);
    }

    public BitLlamaConfig Config { get; }

    /// <summary>The checkpoint file of this run, or null without <see cref="TrainingOptions.CheckpointDirectory"/>.</summary>
    public string? CheckpointPath =>
        _options.CheckpointDirectory is { } dir ? Path.Combine(dir, TrainingCheckpoint.FileName) : null;

    public TrainingResult Train(TokenFile train, TokenFile? validation, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        int window = _options.ContextLen + 1;
        CheckCorpus(train, window, "training");
        if (validation is not null) CheckCorpus(validation, 2, "validation");
        var device = TorchDevice.Resolve(_options.Device);
        torch.set_num_threads(_options.Threads > 0 ? _options.Threads : Environment.ProcessorCount);
        if (CheckpointPath is { } path) TrainingCheckpoint.EnsureWritable(path);

        manual_seed(_options.EffectiveSeed);
        using var model = new BitLlamaModel(Config);
        model.to(device);
        using var optimizer = new AdamW(model.named_parameters(), _options.WeightDecay);
        var sampler = WindowSampler.FromSeed(_options.EffectiveSeed);
        int step = 0;
        double loss = double.NaN;
        if (_options.Resume)
        {
            var saved = TrainingCheckpoint.Load(CheckpointPath!, Config, model, optimizer);
            (step, sampler, loss) = (saved.Step, new WindowSampler(saved.RngState, saved.WindowsDrawn), saved.TrainLoss);
        }

        var baselines = validation is null ? null : MeasureBaselines(train, validation, Config.VocabSize);
        if (baselines is not null && _options.CheckpointDirectory is { } directory)
            TrainingMetrics.WriteBaselines(directory, baselines, train.Count, validation!.Count);
        using var metrics = _options.CheckpointDirectory is { } metricsDirectory ? TrainingMetrics.Open(metricsDirectory, step) : null;
        int startStep = step, lastSaved = _options.Resume ? step : -1;
        double? validationLoss = null;
        int validationStep = -1;
        var clock = Stopwatch.StartNew();
        void Save()
        {
            if (CheckpointPath is null || lastSaved == step) return;
            if (!AllFinite(model)) throw Diverged($"the weights became NaN or infinite by step {step}; stopped without saving them.", lastSaved);
            TrainingCheckpoint.Save(CheckpointPath, model, optimizer, step, sampler, Config, loss);
            lastSaved = step;
        }
        var divergence = new Divergence(Config.VocabSize, baselines, _options.WarmupSteps);

        while (step < _options.MaxSteps)
        {
            if (cancellationToken.IsCancellationRequested || step - startStep >= (_options.StopAfterSteps ?? int.MaxValue)) break;
            double lr = LearningRateSchedule.At(step, _options.MaxSteps, _options.LearningRate, _options.MinLearningRate, _options.WarmupSteps);
            loss = TrainStep(model, optimizer, sampler.NextBatch(train, _options.BatchSize, window), device, lr, _options.GradientClip);
            if (!double.IsFinite(loss))
                throw Diverged($"training loss became {loss} at step {step + 1}; stopped without updating the weights.", lastSaved);
            step++;
            if (divergence.Check(step, loss, "training") is { } tooHigh) throw Diverged(tooHigh, lastSaved);
            bool evaluate = validation is not null && (_options.EvalInterval > 0 && step % _options.EvalInterval == 0 || step == _options.MaxSteps);
            if (evaluate)
            {
                (validationLoss, validationStep) = (Evaluate(model, validation, device), step);
                if (divergence.Check(step, validationLoss!.Value, "validation") is { } tooHighValidation) throw Diverged(tooHighValidation, lastSaved);
            }
            int done = step - startStep;
            var elapsed = clock.Elapsed;
            var report = new TrainingProgress(step, _options.MaxSteps, loss, lr,
                (double)done * _options.BatchSize * _options.ContextLen / Math.Max(elapsed.TotalSeconds, 1e-9),
                elapsed, elapsed / done * (_options.MaxSteps - step), evaluate ? validationLoss : null) { Baselines = baselines };
            metrics?.Append(report);
            if (evaluate) metrics?.WriteLossCurve(baselines, _options.LossCurveLogX);
            progress?.Report(report);
            if (step % _options.SaveInterval == 0) Save();
        }

        bool completed = step >= _options.MaxSteps;
        if (validation is not null && validationStep != step)
        {
            validationLoss = Evaluate(model, validation, device);
            if (divergence.Check(step, validationLoss!.Value, "validation") is { } tooHigh) throw Diverged(tooHigh, lastSaved);
        }
        Save();
        metrics?.WriteLossCurve(baselines, _options.LossCurveLogX);
        return new TrainingResult
        {
            Config = Config, Step = step, StartStep = startStep, Completed = completed, ValidationLoss = validationLoss, TrainLoss = loss,
            Weights = ModelWeights.Export(model), CheckpointPath = lastSaved >= 0 ? CheckpointPath : null, Baselines = baselines,
            MetricsPath = metrics is null ? null : Path.GetFullPath(Path.Combine(_options.CheckpointDirectory!, TrainingMetrics.FileName)),
            LossCurvePath = metrics is { LossCurveWritten: true } ? Path.GetFullPath(metrics.LossCurvePath) : null,
        };
    }

    /// <summary>
    /// The error of a diverged run: what happened, which checkpoint is the last good one (never overwritten by a
    /// diverged model), and what to lower, named as the caller set it (<see cref="OptionMessage"/>).
    /// </summary>
    InvalidOperationException Diverged(string what, int lastSaved)
    {
        string checkpoint = lastSaved >= 0 ? $"The last good checkpoint is {CheckpointPath} (step {lastSaved})." : "No checkpoint was written.";
        FormattableString text = $"{what} {checkpoint} Try a lower {OptionMessage.Name(nameof(TrainingOptions.LearningRate))} or {OptionMessage.Name(nameof(TrainingOptions.InnerLr))}.";
        return OptionMessage.Attach(new InvalidOperationException(text.ToString()), text);
    }

    /// <summary>
    /// When a finite loss means the run has diverged: after the warmup, a training or validation loss above twice the
    /// larger of ln V (the loss of predicting every token with probability 1/V, where a new model starts) and the
    /// unigram baseline. A run that learns anything stays far below that line; an exploding one (too high a learning
    /// rate) crosses it within steps and never comes back.
    /// </summary>
    sealed class Divergence(int vocabSize, BaselineLosses? baselines, int warmupSteps)
    {
        readonly double _uniform = Math.Log(vocabSize);

        public double Limit => 2 * Math.Max(_uniform, baselines?.Unigram ?? 0);

        /// <summary>Null while the run is sound; else what went wrong, for the message.</summary>
        public string? Check(int step, double loss, string which)
        {
            if (step <= warmupSteps || loss <= Limit) return null;
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            string reference = baselines is { } b && b.Unigram > _uniform
                ? string.Create(inv, $"the unigram baseline ({b.Unigram:0.###})")
                : string.Create(inv, $"the {_uniform:0.###} of a uniform guess over {vocabSize} tokens");
            return string.Create(inv, $"training diverged: the {which} loss at step {step} is {loss:0.###} nats/token, more than twice {reference}; stopped without saving the weights.");
        }
    }

    static bool AllFinite(BitLlamaModel model)
    {
        using var scope = NewDisposeScope();
        return model.parameters().All(p => p.isfinite().all().item<bool>());
    }

    /// <summary>One optimizer step on a (B, T + 1) batch of ids; returns the loss before the update.</summary>
    static double TrainStep(BitLlamaModel model, AdamW optimizer, long[] ids, Device device, double lr, double clip)
    {
        using var scope = NewDisposeScope();
        int vocab = model.Config.VocabSize;
        long window = model.Config.ContextLen + 1, batch = ids.Length / window;
        var tokens = tensor(ids, [batch, window]).to(device);                  // (B, T + 1)
        var logits = model.forward(tokens.narrow(1, 0, window - 1));            // (B, T, V)
        var targets = tokens.narrow(1, 1, window - 1);                          // (B, T)
        var lossTensor = nn.functional.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1));
        double loss = lossTensor.item<float>();
        if (!double.IsFinite(loss)) return loss;
        lossTensor.backward();
        optimizer.ClipGradients(clip);
        optimizer.Step(lr);
        model.zero_grad();
        return loss;
    }

    /// <summary>
    /// Mean cross-entropy over EvalBatches × BatchSize windows spread evenly over the validation file
    /// (the same windows every time, so evaluations are comparable and use no randomness).
    /// </summary>
    double? Evaluate(BitLlamaModel model, TokenFile? validation, Device device)
    {
        if (validation is null) return null;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        int window = (int)Math.Min(_options.ContextLen + 1, validation.Count);
        int windows = _options.EvalBatches * _options.BatchSize;
        long span = validation.Count - window;
        double total = 0;
        var row = new int[window];
        for (int first = 0; first < windows; first += _options.BatchSize)
        {
            int batch = Math.Min(_options.BatchSize, windows - first);
            var ids = new long[batch * window];
            for (int b = 0; b < batch; b++)
            {
                validation.CopyTo(windows == 1 ? 0 : span * (first + b) / (windows - 1), row);
                for (int t = 0; t < window; t++) ids[b * window + t] = row[t];
            }
            var tokens = tensor(ids, [batch, window]).to(device);
            var logits = model.forward(tokens.narrow(1, 0, window - 1));
            var loss = nn.functional.cross_entropy(logits.reshape(-1, Config.VocabSize), tokens.narrow(1, 1, window - 1).reshape(-1));
            total += loss.item<float>() * batch;
        }
        return total / windows;
    }

    void CheckCorpus(TokenFile tokens, int minimum, string role)
    {
        if (tokens.Count < minimum)
        {
            FormattableString text = role == "training"
                ? (FormattableString)$"{tokens.FilePath}: the {role} corpus has {tokens.Count} tokens, fewer than one window of {minimum} (context_len + 1); use a longer text or a smaller {OptionMessage.Name(nameof(TrainingOptions.ContextLen))}"
                : $"{tokens.FilePath}: the {role} corpus has {tokens.Count} tokens, fewer than one window of {minimum} tokens";
            throw OptionMessage.Attach(new ArgumentException(text.ToString()), text);
        }
        var (min, max) = tokens.Range();
        if (min < 0 || max >= Config.VocabSize)
            throw new ArgumentException(
                $"{tokens.FilePath}: the {role} corpus holds token id {(min < 0 ? min : max)}, outside the model's vocabulary [0, {Config.VocabSize}) " +
                "(tokenizer/config vocab mismatch)");
    }

    /// <summary>Training tokens the n-gram baselines count at most (<see cref="TrainingData.MaxBaselineTrainTokens"/>).</summary>
    public const int MaxBaselineTrainTokens = TrainingData.MaxBaselineTrainTokens;

    /// <summary>The n-gram baselines of a split (<see cref="TrainingData.MeasureBaselines"/>).</summary>
    public static BaselineLosses MeasureBaselines(TokenFile train, TokenFile validation, int vocabSize) =>
        TrainingData.MeasureBaselines(train, validation, vocabSize);

    /// <summary>
    /// Cross-entropy (nats) of a unigram model of the training tokens on the validation tokens, with
    /// add-one smoothing over the vocabulary: the baseline a language model must beat.
    /// </summary>
    public static double UnigramCrossEntropy(TokenFile train, TokenFile validation, int vocabSize) =>
        NGramBaselines.UnigramCrossEntropy(train.ReadAll(MaxBaselineTrainTokens), validation.ReadAll(), vocabSize);
}
