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
        var column = SchemaChecks.Tokens(input.Schema, _options.TokensColumnName);
        var tokenizer = _options.Tokenizer
            ?? (SchemaChecks.TextAnnotation(column, SchemaChecks.TokenizerAnnotation) is { } json
                ? BitLlamaTokenizer.FromJson(json, $"tokenizer of column '{column.Name}'")
                : throw NoTokenizer(column.Name));
        string prompt = _options.PromptColumnName
            ?? SchemaChecks.TextAnnotation(column, SchemaChecks.SourceColumnAnnotation)
            ?? BitLlamaDefaults.TextColumnName;

        var env = MlHost.Environment(_catalog);
        var host = MlHost.Host(env);
        using var channel = host.Start("Fit");
        LoaderCheck.WarnIfCut(input, prompt, channel);
        var run = _options.ForRun(TrainingEnvironment.Seed(host, _options.Seed), TrainingEnvironment.Device(env, _options.Device, channel));
        var clock = Stopwatch.StartNew();
        string work = Path.Combine(_options.WorkingDirectory ?? Path.GetTempPath(), $"bitllama-fit-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        try
        {
            var corpus = new TokenColumnWriter(tokenizer, _options.RowSeparator);
            string trainPath = Path.Combine(work, "train.tokens"), validPath = Path.Combine(work, "valid.tokens");
            WriteTokens(input, column, corpus, trainPath, validPath, channel);
            using var train = TokenFile.Open(trainPath);
            using var valid = File.Exists(validPath) ? TokenFile.Open(validPath) : null;
            CheckEnough(train, column.Name);
            var useValid = valid is not null && valid.Count > _options.ContextLen ? valid : null;
            MlHost.Info(channel, $"Training on {train.Count:N0} tokens, validating on {(useValid?.Count ?? 0):N0}; " +
                $"model D={run.HiddenDim}, layers={run.NumLayers}, vocabulary={tokenizer.VocabSize}, {run.MaxSteps} steps on {run.Device}, seed {run.Seed}.");

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
                CheckpointPath = result.CheckpointPath, Elapsed = clock.Elapsed,
            };
            MlHost.Info(channel, $"Trained {summary.Steps} steps in {summary.Elapsed.TotalSeconds:F0} s: train loss {summary.TrainLoss:F3}" +
                (summary.ValidationLoss is { } v && summary.Baselines is { } b ? $"; {b.Verdict(v)}" : "") + ".");
            var config = run.StoredGeneration(run.EffectiveSeed).StoreIn(result.Config);
            var transformer = new BitLlamaTransformer(_catalog, config, tokenizer, result.Weights, new ColumnSettings(prompt, _options.CompletionColumnName));
            BitLlamaTrainingSummaryExtensions.Attach(transformer, summary);
            return transformer;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
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
