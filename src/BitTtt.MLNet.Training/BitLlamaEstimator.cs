using System.Diagnostics;
using BitTtt.Tokenization;
using BitTtt.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace BitTtt.MLNet;

/// <summary>
/// Trains a BitLlama language model with the TorchSharp trainer. <b>Trains on:</b> the token column
/// (vector of UInt32, normally from <c>TokenizeForBitLlama</c>), streamed from the IDataView cursor into an
/// on-disk token file, so a corpus larger than memory works; rows are joined with
/// <see cref="BitLlamaOptions.RowSeparator"/>. <b>Input:</b> the token column, carrying its tokenizer (or
/// <see cref="BitLlamaOptions.Tokenizer"/>). <b>Output:</b> a <see cref="BitLlamaTransformer"/> that adds a
/// String <c>Completion</c> column generated from the text column the tokens came from. Progress goes to
/// <c>MLContext.Log</c> and <see cref="BitLlamaOptions.Progress"/>. <b>MLContext:</b> its seed seeds training when
/// <see cref="TrainingOptions.Seed"/> is null; its <c>GpuDeviceId</c> / <c>FallbackToCpu</c> choose the device as in
/// Microsoft.ML.TorchSharp. Needs TorchSharp (this package); the fitted transformer does not.
/// </summary>
public sealed class BitLlamaEstimator : IEstimator<BitLlamaTransformer>
{
    readonly TransformsCatalog _catalog;
    readonly BitLlamaOptions _options;

    internal BitLlamaEstimator(TransformsCatalog catalog, BitLlamaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _catalog = catalog;
        _options = options;
    }

    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        _options.Validate();
        if (_options.Chat)
        {
            new ChatColumns(_options).Check(inputSchema);
            return BitLlamaTransformer.AddedShape(_catalog, inputSchema, _options.CompletionColumnName);
        }
        var tokens = SchemaChecks.Tokens(inputSchema, _options.TokensColumnName);
        if (_options.Tokenizer is null && !SchemaChecks.HasAnnotation(tokens, SchemaChecks.TokenizerAnnotation))
            throw NoTokenizer(_options.TokensColumnName);
        if (_options.PromptColumnName is not null) SchemaChecks.Text(inputSchema, _options.PromptColumnName);
        return BitLlamaTransformer.AddedShape(_catalog, inputSchema, _options.CompletionColumnName);
    }

    public BitLlamaTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        _options.Validate();
        if (_options.Chat) new ChatColumns(_options).Check(input.Schema);
        else SchemaChecks.Tokens(input.Schema, _options.TokensColumnName);

        var env = MlHost.Environment(_catalog);
        var host = MlHost.Host(env);
        using var channel = host.Start("Fit");
        var run = _options.ForRun(TrainingEnvironment.Seed(host, _options.Seed), TrainingEnvironment.Device(env, _options.Device, channel));
        var clock = Stopwatch.StartNew();
        string work = Path.Combine(_options.WorkingDirectory ?? Path.GetTempPath(), $"bitllama-fit-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        try
        {
            string trainPath = Path.Combine(work, "train.tokens"), validPath = Path.Combine(work, "valid.tokens");
            var corpus = _options.Chat ? WriteConversations(input, trainPath, validPath, channel) : WriteTokenColumn(input, trainPath, validPath, channel);
            var tokenizer = corpus.Tokenizer;
            using var train = TokenFile.Open(trainPath);
            using var valid = File.Exists(validPath) ? TokenFile.Open(validPath) : null;
            if (corpus.Chat is null) CheckEnough(train, corpus.Column);
            var useValid = valid is null ? null
                : corpus.Chat is null ? (valid.Count > _options.ContextLen ? valid : null)
                : (valid.ExampleStarts.Count > 0 ? valid : null);
            TrainingPlan? plan = null;
            if (run.TimeBudget is { } budget)
            {
                plan = TimeBudgetPlanner.Plan(run, tokenizer.VocabSize, train.Count, budget - clock.Elapsed);
                TimeBudgetPlanner.Apply(run, plan);
                foreach (var trial in plan.Trials) MlHost.Info(channel, $"Time budget: {trial}.");
                MlHost.Info(channel, $"{plan.Describe(budget)}.");
            }
            string shape = run.InitialModel is { } initial ? $"fine-tuning {initial}" : $"model D={run.HiddenDim}, layers={run.NumLayers}";
            MlHost.Info(channel, $"Training on {train.Count:N0} tokens, validating on {(useValid?.Count ?? 0):N0}; " +
                $"{shape}, vocabulary={tokenizer.VocabSize}, {run.MaxSteps} steps on {run.Device}, seed {run.Seed}.");

            var trainer = new BitLlamaTrainer(run, tokenizer.VocabSize);
            var result = trainer.Train(train, useValid, new LoggingProgress(channel, _options.Progress), _options.CancellationToken);
            if (!result.Completed && _options.CancellationToken.IsCancellationRequested)
            {
                string where = result.CheckpointPath is { } c ? $"; checkpoint {c} (continue with Resume = true)" : "; no CheckpointDirectory, so nothing was kept";
                MlHost.Info(channel, $"Cancelled at step {result.Step}{where}.");
                throw new OperationCanceledException($"BitLlama Fit was cancelled at step {result.Step}{where}.", _options.CancellationToken);
            }
            var summary = new BitLlamaTrainingSummary
            {
                Steps = result.Step, Completed = result.Completed, TrainLoss = result.TrainLoss, ValidationLoss = result.ValidationLoss,
                UnigramValidationLoss = result.Baselines?.Unigram, Baselines = result.Baselines,
                TrainTokens = train.Count, ValidationTokens = useValid?.Count ?? 0,
                CheckpointPath = result.CheckpointPath, Elapsed = clock.Elapsed, Plan = plan,
                Advice = TrainingAdvice.For(result, run, train.Count, tokenizerTrained: false)?.ToString(System.Globalization.CultureInfo.InvariantCulture),
                InitialValidationLoss = result.InitialValidationLoss, Examples = result.Examples,
            };
            MlHost.Info(channel, $"Trained {summary.Steps} steps in {summary.Elapsed.TotalSeconds:F0} s: train loss {summary.TrainLoss:F3}" +
                (summary.ValidationLoss is { } v && summary.Baselines is { } b ? $"; {b.Verdict(v)}" : "") +
                (summary.InitialValidationLoss is { } before && summary.ValidationLoss is { } after ? $"; validation {before:F3} before fine-tuning, {after:F3} after" : "") + ".");
            if (summary.Advice is { } advice) MlHost.Warning(channel, advice);
            var config = run.StoredGeneration(run.EffectiveSeed).StoreIn(result.Config);
            if (corpus.Chat is { } chat) config = chat.StoreIn(config);   // the model keeps its template (docs/model.md §6.2)
            var transformer = new BitLlamaTransformer(_catalog, config, tokenizer, result.Weights, corpus.Settings);
            BitLlamaTrainingSummaryExtensions.Attach(transformer, summary);
            return transformer;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>What a Fit trains on: the tokenizer, the transformer's columns, the chat template (conversations) and the column read.</summary>
    sealed record Corpus(BitLlamaTokenizer Tokenizer, ColumnSettings Settings, ChatFormat? Chat, string Column);

    Corpus WriteTokenColumn(IDataView input, string trainPath, string validPath, IChannel channel)
    {
        var column = SchemaChecks.Tokens(input.Schema, _options.TokensColumnName);
        var tokenizer = _options.Tokenizer
            ?? (SchemaChecks.TextAnnotation(column, SchemaChecks.TokenizerAnnotation) is { } json
                ? BitLlamaTokenizer.FromJson(json, $"tokenizer of column '{column.Name}'")
                : throw NoTokenizer(column.Name));
        if (_options.InitialModel is { } initial) CheckExtends(tokenizer, initial, $"the tokenizer of column '{column.Name}'");
        string prompt = _options.PromptColumnName
            ?? SchemaChecks.TextAnnotation(column, SchemaChecks.SourceColumnAnnotation)
            ?? BitLlamaDefaults.TextColumnName;
        LoaderCheck.WarnIfCut(input, prompt, channel);
        WriteTokens(input, column, new TokenColumnWriter(tokenizer, _options.RowSeparator), trainPath, validPath, channel);
        return new Corpus(tokenizer, new ColumnSettings(prompt, _options.CompletionColumnName), null, column.Name);
    }

    /// <summary>A fine-tuning run's token ids must mean what they meant to the model: its tokenizer's ids, maybe more.</summary>
    static void CheckExtends(BitLlamaTokenizer tokenizer, string initial, string what)
    {
        var model = BitLlamaTokenizer.FromJson(TrainingData.InitialModelFiles(initial).TokenizerJson, initial);
        bool same = tokenizer.VocabSize >= model.VocabSize
            && Enumerable.Range(0, model.VocabSize).All(id => tokenizer.GetTokenBytes(id).SequenceEqual(model.GetTokenBytes(id)));
        if (!same)
            throw new ArgumentException($"{what} is not the tokenizer of InitialModel {initial}; tokenize with the model's tokenizer " +
                "(TokenizeForBitLlama with TokenizeForBitLlamaOptions.Tokenizer set to it) so the ids mean what the model learnt", nameof(BitLlamaOptions.InitialModel));
    }

    Corpus WriteConversations(IDataView input, string trainPath, string validPath, IChannel channel)
    {
        var chat = new ChatColumns(_options);
        var start = _options.InitialModel is { } initial ? TrainingData.InitialModelFiles(initial) : null;
        if (start is not null && _options.Tokenizer is not null)
            throw new ArgumentException("BitLlamaOptions.Tokenizer: a run from InitialModel uses that model's tokenizer; leave Tokenizer null", nameof(BitLlamaOptions.Tokenizer));
        var tokenizer = (start is not null ? BitLlamaTokenizer.FromJson(start.TokenizerJson, start.TokenizerSource) : null)
            ?? _options.Tokenizer
            ?? (input.Schema.GetColumnOrNull(_options.TokensColumnName) is { } tokens && SchemaChecks.TextAnnotation(tokens, SchemaChecks.TokenizerAnnotation) is { } json
                ? BitLlamaTokenizer.FromJson(json, $"tokenizer of column '{tokens.Name}'") : null)
            ?? TrainTokenizer(input, chat, channel);
        var extended = tokenizer.WithSpecialTokens(ChatFormat.DefaultTokens);
        if (extended.VocabSize > tokenizer.VocabSize)
            MlHost.Info(channel, $"The tokenizer lacks the chat tokens: added as ids {tokenizer.VocabSize}..{extended.VocabSize - 1}; the model grows by as many rows.");
        var format = start is not null && ChatFormat.FromConfig(start.Config, extended, start.Source) is { } stored ? stored : ChatFormat.Default(extended);
        using (var train = new TokenFileWriter(trainPath, withFlags: true))
        {
            bool holdOut = _options.ValidationSet is not null || _options.ValidationFraction > 0;
            using var valid = holdOut ? new TokenFileWriter(validPath, withFlags: true) : null;
            int every = _options.ValidationFraction > 0 ? Math.Max(2, (int)Math.Round(1 / _options.ValidationFraction)) : 0;
            var (trained, held) = chat.Write(input, _options.ValidationSet, format, train, valid, every);
            if (trained == 0)
                throw new ArgumentException($"Column '{chat.InputColumn}' holds no conversation to train on (every row is blank).");
            train.Commit();
            valid?.Commit();
            MlHost.Info(channel, $"Encoded {trained:N0} training and {held:N0} validation conversations with the chat template.");
        }
        var settings = new ColumnSettings(chat.InputColumn, _options.CompletionColumnName) { Messages = _options.MessagesColumnName is not null };
        return new Corpus(extended, settings, format, chat.InputColumn);
    }

    BitLlamaTokenizer TrainTokenizer(IDataView input, ChatColumns chat, IChannel channel)
    {
        MlHost.Info(channel, $"Training a byte-level BPE tokenizer (vocabulary {BitLlamaDefaults.VocabSize}) on the conversations' text.");
        return BitLlamaTokenizer.FromJson(BpeTrainer.TrainFromTexts(chat.Texts(input), new BpeTrainerOptions()), "trained tokenizer");
    }

    void WriteTokens(IDataView input, DataViewSchema.Column column, TokenColumnWriter corpus, string trainPath, string validPath, IChannel channel)
    {
        using (var train = new TokenFileWriter(trainPath))
        {
            TokenFileWriter? valid = null;
            try
            {
                if (_options.ValidationSet is { } set)
                {
                    valid = new TokenFileWriter(validPath);
                    corpus.Append(input, column, train, null, 0);
                    AppendValidationSet(set, corpus, valid);
                }
                else if (_options.ValidationFraction > 0)
                {
                    valid = new TokenFileWriter(validPath);
                    int every = Math.Max(2, (int)Math.Round(1 / _options.ValidationFraction));
                    corpus.Append(input, column, train, valid, every);
                }
                else corpus.Append(input, column, train, null, 0);
                train.Commit();
                valid?.Commit();
                MlHost.Info(channel, $"Streamed {corpus.Rows:N0} rows of column '{column.Name}' to disk.");
            }
            finally { valid?.Dispose(); }
        }

        void AppendValidationSet(IDataView set, TokenColumnWriter corpus, TokenFileWriter valid)
        {
            if (set.Schema.GetColumnOrNull(column.Name) is { } tokens)
            {
                corpus.Append(set, SchemaChecks.Tokens(set.Schema, tokens.Name), valid, null, 0);
                return;
            }
            string source = SchemaChecks.TextAnnotation(column, SchemaChecks.SourceColumnAnnotation) ?? BitLlamaDefaults.TextColumnName;
            if (set.Schema.GetColumnOrNull(source) is null)
                throw new ArgumentException($"BitLlamaOptions.ValidationSet has neither the token column '{column.Name}' nor the text column '{source}'.", nameof(BitLlamaOptions.ValidationSet));
            corpus.AppendTexts(set, SchemaChecks.Text(set.Schema, source), valid);
        }
    }

    void CheckEnough(TokenFile train, string column)
    {
        if (train.Count <= _options.ContextLen)
            throw new ArgumentException(
                $"Column '{column}' holds {train.Count} training tokens; BitLlama needs more than ContextLen = {_options.ContextLen} (more text, or a smaller ContextLen).");
    }

    static ArgumentOutOfRangeException NoTokenizer(string column) => new("inputSchema",
        $"Column '{column}' carries no BitLlama tokenizer: produce it with TokenizeForBitLlama, or set BitLlamaOptions.Tokenizer");

    /// <summary>Forwards each step to the user's IProgress and logs a line every ~5% (and every evaluation).</summary>
    sealed class LoggingProgress(IChannel channel, IProgress<TrainingProgress>? user) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            int every = Math.Max(1, p.TotalSteps / 20);
            if (p.Step % every == 0 || p.Step == p.TotalSteps || p.ValidationLoss is not null)
                MlHost.Info(channel, $"step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} lr {p.LearningRate:G3} {p.TokensPerSecond:F0} tok/s" +
                    (p.ValidationLoss is { } v ? $" validation {v:F4}" + (p.Baselines is { } b ? $" (baselines: {b})" : "") : "") + $" remaining {p.Remaining:hh\\:mm\\:ss}");
            user?.Report(p);
        }
    }
}
