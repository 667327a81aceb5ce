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
    /// <summary>Every validation loss of this invocation with its step, in order (the last is <see cref="ValidationLoss"/>).</summary>
    public IReadOnlyList<(int Step, double Loss)> ValidationHistory { get; init; } = [];
    /// <summary><c>metrics.csv</c> in the checkpoint directory, or null without one.</summary>
    public string? MetricsPath { get; init; }
    /// <summary><c>loss.png</c> in the checkpoint directory, or null when there is none or it could not be drawn (a warning said why).</summary>
    public string? LossCurvePath { get; init; }
    /// <summary>
    /// A fine-tuning run (<see cref="TrainingOptions.InitialModel"/>): the validation loss of the starting weights, before
    /// the first step (with grown rows, docs/model.md §6.5); null otherwise, and on a resumed run.
    /// </summary>
    public double? InitialValidationLoss { get; init; }
    /// <summary>A corpus of examples (conversations): how they fit the window; null for a text.</summary>
    public ExampleStats? Examples { get; init; }
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
    readonly IReadOnlyList<SafeTensorData>? _initialWeights;

    /// <summary>
    /// A trainer for a tokenizer of <paramref name="vocabSize"/> ids: a new model of the options' shape, or, with
    /// <see cref="TrainingOptions.InitialModel"/>, that model (loaded now; grown to <paramref name="vocabSize"/> rows
    /// when its tokenizer had fewer ids, docs/model.md §6.5).
    /// </summary>
    public BitLlamaTrainer(TrainingOptions options, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (vocabSize <= 0) throw new ArgumentException($"vocab size must be positive, got {vocabSize}", nameof(vocabSize));
        _options = options;
        if (options.InitialModel is { } path)
        {
            var start = PretrainedModel.Load(path);
            Config = start.ConfigFor(vocabSize, options.ContextLen);
            _initialWeights = start.Grow(Config, options.EffectiveSeed);
        }
        else Config = options.ToConfig(vocabSize);
    }

    public BitLlamaConfig Config { get; }

    /// <summary>The checkpoint file of this run, or null without <see cref="TrainingOptions.CheckpointDirectory"/>.</summary>
    public string? CheckpointPath =>
        _options.CheckpointDirectory is { } dir ? Path.Combine(dir, TrainingCheckpoint.FileName) : null;

    public TrainingResult Train(TokenFile train, TokenFile? validation, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        int window = _options.ContextLen + 1;
        ExampleWindows? trainExamples = null, validationExamples = null;
        if (validation is not null && validation.HasFlags != train.HasFlags)
            throw new ArgumentException($"{train.FilePath} and {validation.FilePath}: one holds examples (conversations) and the other a text; train and validate on the same kind");
        if (train.HasFlags)
        {
            trainExamples = Examples(train, window, "training");
            if (validation is not null) validationExamples = Examples(validation, window, "validation");
        }
        else
        {
            CheckCorpus(train, window, "training");
            if (validation is not null) CheckCorpus(validation, 2, "validation");
        }
        var device = TorchDevice.Resolve(_options.Device);
        torch.set_num_threads(_options.Threads > 0 ? _options.Threads : Environment.ProcessorCount);
        if (CheckpointPath is { } path) TrainingCheckpoint.EnsureWritable(path);

        manual_seed(_options.EffectiveSeed);
        using var model = new BitLlamaModel(Config);
        if (_initialWeights is not null) LoadInitialWeights(model);
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

        // The n-gram baselines score every validation token; the loss of a corpus of examples counts only some of them.
        var baselines = validation is null || train.HasFlags ? null : MeasureBaselines(train, validation, Config.VocabSize);
        double? initialValidation = _initialWeights is not null && validation is not null && !_options.Resume
            ? Evaluate(model, validation, validationExamples, device) : null;
        if (baselines is not null && _options.CheckpointDirectory is { } directory)
            TrainingMetrics.WriteBaselines(directory, baselines, train.Count, validation!.Count);
        using var metrics = _options.CheckpointDirectory is { } metricsDirectory ? TrainingMetrics.Open(metricsDirectory, step) : null;
        int startStep = step, lastSaved = _options.Resume ? step : -1;
        double? validationLoss = null;
        int validationStep = -1;
        var history = new List<(int Step, double Loss)>();
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
            var (ids, mask) = trainExamples is null
                ? (sampler.NextBatch(train, _options.BatchSize, window), null)
                : sampler.NextExampleBatch(trainExamples, _options.BatchSize, window);
            loss = TrainStep(model, optimizer, ids, mask, device, lr, _options.GradientClip);
            if (!double.IsFinite(loss))
                throw Diverged($"training loss became {loss} at step {step + 1}; stopped without updating the weights.", lastSaved);
            step++;
            if (divergence.Check(step, loss, "training") is { } tooHigh) throw Diverged(tooHigh, lastSaved);
            bool evaluate = validation is not null && (_options.EvalInterval > 0 && step % _options.EvalInterval == 0 || step == _options.MaxSteps);
            if (evaluate)
            {
                (validationLoss, validationStep) = (Evaluate(model, validation, validationExamples, device), step);
                history.Add((step, validationLoss!.Value));
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
            validationLoss = Evaluate(model, validation, validationExamples, device);
            history.Add((step, validationLoss!.Value));
            if (divergence.Check(step, validationLoss!.Value, "validation") is { } tooHigh) throw Diverged(tooHigh, lastSaved);
        }
        Save();
        metrics?.WriteLossCurve(baselines, _options.LossCurveLogX);
        return new TrainingResult
        {
            Config = Config, Step = step, StartStep = startStep, Completed = completed, ValidationLoss = validationLoss, TrainLoss = loss,
            Weights = ModelWeights.Export(model), CheckpointPath = lastSaved >= 0 ? CheckpointPath : null, Baselines = baselines, ValidationHistory = history,
            MetricsPath = metrics is null ? null : Path.GetFullPath(Path.Combine(_options.CheckpointDirectory!, TrainingMetrics.FileName)),
            LossCurvePath = metrics is { LossCurveWritten: true } ? Path.GetFullPath(metrics.LossCurvePath) : null,
            InitialValidationLoss = initialValidation, Examples = trainExamples?.Stats,
        };
    }

    void LoadInitialWeights(BitLlamaModel model)
    {
        var byName = _initialWeights!.ToDictionary(w => w.Name);
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
            ModelWeights.CopyInto(p, byName[name].Data.ToArray());
    }

    /// <summary>The rows of a corpus of examples; none with a counted token inside the window is an error naming the file.</summary>
    ExampleWindows Examples(TokenFile tokens, int window, string role)
    {
        CheckIds(tokens, role);
        var examples = new ExampleWindows(tokens, window, _options.TrainOnAllTokens);
        if (examples.Count == 0)
        {
            FormattableString text = examples.Stats.Examples == 0
                ? (FormattableString)$"{tokens.FilePath}: the {role} corpus holds no example"
                : $"{tokens.FilePath}: none of the {examples.Stats.Examples} {role} examples has a trained token (an assistant reply) within its first {window} tokens (context_len + 1); use a larger {OptionMessage.Name(nameof(TrainingOptions.ContextLen))} or shorter conversations";
            throw OptionMessage.Attach(new ArgumentException(text.ToString()), text);
        }
        return examples;
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

    /// <summary>
    /// One optimizer step on a (B, T + 1) batch of ids; returns the loss before the update. With a (B, T)
    /// <paramref name="mask"/> the loss is the mean over the predictions it marks (an example's counted tokens).
    /// </summary>
    static double TrainStep(BitLlamaModel model, AdamW optimizer, long[] ids, float[]? mask, Device device, double lr, double clip)
    {
        using var scope = NewDisposeScope();
        long window = model.Config.ContextLen + 1, batch = ids.Length / window;
        var tokens = tensor(ids, [batch, window]).to(device);                  // (B, T + 1)
        var logits = model.forward(tokens.narrow(1, 0, window - 1));            // (B, T, V)
        var lossTensor = Loss(logits, tokens, mask, device);
        double loss = lossTensor.item<float>();
        if (!double.IsFinite(loss)) return loss;
        lossTensor.backward();
        optimizer.ClipGradients(clip);
        optimizer.Step(lr);
        model.zero_grad();
        return loss;
    }

    /// <summary>
    /// Wall-clock seconds of one training step of a new model for <paramref name="options"/> on random tokens (the
    /// best of <paramref name="timed"/> steps after <paramref name="warmup"/>), with the options' thread count and
    /// device: what <see cref="TimeBudgetPlanner"/> plans with. The random generator is seeded, so the measurement does not
    /// disturb a run's reproducibility; libtorch's is restored by the run's own <c>manual_seed</c>.
    /// </summary>
    public static double MeasureSecondsPerStep(TrainingOptions options, int vocabSize, int warmup = 1, int timed = 2)
    {
        ArgumentNullException.ThrowIfNull(options);
        var config = options.ToConfig(vocabSize);
        var device = TorchDevice.Resolve(options.Device);
        torch.set_num_threads(options.Threads > 0 ? options.Threads : Environment.ProcessorCount);
        manual_seed(options.EffectiveSeed);
        using var model = new BitLlamaModel(config);
        model.to(device);
        using var optimizer = new AdamW(model.named_parameters(), options.WeightDecay);
        var rng = new Random(options.EffectiveSeed);
        long window = options.ContextLen + 1;
        double best = double.MaxValue;
        for (int step = 0; step < warmup + timed; step++)
        {
            var ids = new long[options.BatchSize * window];
            for (int i = 0; i < ids.Length; i++) ids[i] = rng.Next(vocabSize);
            var clock = Stopwatch.StartNew();
            TrainStep(model, optimizer, ids, null, device, options.LearningRate, options.GradientClip);
            if (step >= warmup) best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        return best;
    }

    /// <summary>
    /// Mean next-token cross-entropy of (B, T, V) <paramref name="logits"/> against (B, T + 1) <paramref name="tokens"/>:
    /// over every prediction, or over those a (B, T) <paramref name="mask"/> marks.
    /// </summary>
    internal static Tensor Loss(Tensor logits, Tensor tokens, float[]? mask, Device device)
    {
        long vocab = logits.shape[2];
        var targets = tokens.narrow(1, 1, tokens.shape[1] - 1).reshape(-1);       // (B·T)
        if (mask is null) return nn.functional.cross_entropy(logits.reshape(-1, vocab), targets);
        var weights = tensor(mask).to(device);                                     // (B·T)
        var each = nn.functional.cross_entropy(logits.reshape(-1, vocab), targets, reduction: nn.Reduction.None);
        return (each * weights).sum() / weights.sum();
    }

    /// <summary>
    /// Mean cross-entropy over EvalBatches × BatchSize windows spread evenly over the validation file
    /// (the same windows every time, so evaluations are comparable and use no randomness). A corpus of examples:
    /// over as many examples (all, when there are fewer), spread evenly, the mean over their counted predictions.
    /// </summary>
    double? Evaluate(BitLlamaModel model, TokenFile? validation, ExampleWindows? examples, Device device)
    {
        if (validation is null) return null;
        if (examples is not null) return EvaluateExamples(model, examples, device);
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

    double EvaluateExamples(BitLlamaModel model, ExampleWindows examples, Device device)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        int window = _options.ContextLen + 1;
        int count = Math.Min(_options.EvalBatches * _options.BatchSize, examples.Count);
        double total = 0, counted = 0;
        for (int first = 0; first < count; first += _options.BatchSize)
        {
            int batch = Math.Min(_options.BatchSize, count - first);
            var ids = new long[batch * window];
            var mask = new float[batch * (window - 1)];
            for (int b = 0; b < batch; b++)
                examples.Fill(count == 1 ? 0 : (int)((long)(examples.Count - 1) * (first + b) / (count - 1)), b, ids, mask);
            var tokens = tensor(ids, [batch, window]).to(device);
            var logits = model.forward(tokens.narrow(1, 0, window - 1));
            double weight = mask.Sum();
            total += Loss(logits, tokens, mask, device).item<float>() * weight;
            counted += weight;
        }
        return total / counted;
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
        CheckIds(tokens, role);
    }

    void CheckIds(TokenFile tokens, string role)
    {
        var (min, max) = tokens.Range();
        if (tokens.Count > 0 && (min < 0 || max >= Config.VocabSize))
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
