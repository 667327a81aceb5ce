using System.Globalization;
using System.Text;
using System.Text.Json;
using BitTtt.Evaluation;

namespace BitTtt.Training;

// metrics.csv (beside the checkpoint), UTF-8, one row per optimizer step:
//   step,lr,train_loss,val_loss,tokens_per_s,elapsed_s
// val_loss is empty on steps without an evaluation; elapsed_s counts from the first step of the run,
// across resumed invocations. On resume, rows after the checkpoint's step are dropped (they belong to
// steps that will be trained again), by rewriting the file atomically before appending.
//
// baselines.json (beside it), written atomically at the start of a run with validation data:
//   {"unigram": 5.97, "bigram": 4.24, "trigram": 3.85, "unit": "nats/token",
//    "train_tokens": 123456, "validation_tokens": 6789,
//    "models": {"unigram": "add-one", "bigram": "interpolated Kneser-Ney", "trigram": "interpolated Kneser-Ney"}}
//
// loss.png (beside it), redrawn atomically after every validation and at the end from the rows of
// metrics.csv (those kept on resume included) and the baselines (LossCurve). A plotting failure is a
// warning, once per run: the curve is a view of metrics.csv, never a reason to lose a training run.

/// <summary>Appends a training run's per-step figures to <c>metrics.csv</c>, writes <c>baselines.json</c> and draws <c>loss.png</c>.</summary>
internal sealed class TrainingMetrics : IDisposable
{
    public const string FileName = "metrics.csv", BaselinesFileName = "baselines.json";
    const string Header = "step,lr,train_loss,val_loss,tokens_per_s,elapsed_s";

    readonly StreamWriter _writer;
    readonly double _elapsedBefore;
    readonly string _lossCurvePath;
    readonly List<LossPoint> _train, _validation;
    bool _lossCurveFailed;

    TrainingMetrics(StreamWriter writer, double elapsedBefore, string directory, List<LossPoint> train, List<LossPoint> validation)
    {
        (_writer, _elapsedBefore) = (writer, elapsedBefore);
        _lossCurvePath = Path.Combine(directory, LossCurve.FileName);
        (_train, _validation) = (train, validation);
    }

    /// <summary>Where <c>loss.png</c> goes; it exists once a validation or the end of the run drew it.</summary>
    public string LossCurvePath => _lossCurvePath;

    /// <summary>True after a successful <see cref="WriteLossCurve"/>.</summary>
    public bool LossCurveWritten { get; private set; }

    /// <summary>Starts a fresh file, or on resume keeps the rows up to <paramref name="resumedStep"/> and appends after them.</summary>
    public static TrainingMetrics Open(string directory, int resumedStep)
    {
        string path = Path.Combine(directory, FileName);
        double elapsedBefore = 0;
        List<LossPoint> train = [], validation = [];
        if (resumedStep > 0 && File.Exists(path))
        {
            var kept = new List<string> { Header };
            foreach (string line in File.ReadLines(path).Skip(1))
            {
                var fields = line.Split(',');
                if (fields.Length != 6 || !int.TryParse(fields[0], CultureInfo.InvariantCulture, out int step) || step > resumedStep) continue;
                kept.Add(line);
                if (double.TryParse(fields[5], CultureInfo.InvariantCulture, out double e)) elapsedBefore = e;
                if (double.TryParse(fields[2], CultureInfo.InvariantCulture, out double loss)) train.Add(new LossPoint(step, loss));
                if (double.TryParse(fields[3], CultureInfo.InvariantCulture, out double val)) validation.Add(new LossPoint(step, val));
            }
            AtomicFile.WriteAllText(path, string.Join('\n', kept) + "\n");
        }
        else AtomicFile.WriteAllText(path, Header + "\n");
        var writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
        return new TrainingMetrics(writer, elapsedBefore, directory, train, validation);
    }

    /// <summary>One row; flushed, so a crash loses at most the row being written.</summary>
    public void Append(TrainingProgress p)
    {
        var inv = CultureInfo.InvariantCulture;
        string val = p.ValidationLoss is { } v ? v.ToString("0.######", inv) : "";
        _writer.Write(string.Create(inv,
            $"{p.Step},{p.LearningRate:0.######e+00},{p.Loss:0.######},{val},{p.TokensPerSecond:0.#},{_elapsedBefore + p.Elapsed.TotalSeconds:0.###}\n"));
        _writer.Flush();
        _train.Add(new LossPoint(p.Step, p.Loss));
        if (p.ValidationLoss is { } validationLoss) _validation.Add(new LossPoint(p.Step, validationLoss));
    }

    /// <summary>
    /// Redraws <c>loss.png</c> from every row so far. Never throws: the first failure is written to
    /// <paramref name="warn"/> (standard error by default) and later failures are silent.
    /// </summary>
    public void WriteLossCurve(BaselineLosses? baselines, bool logX, Action<string>? warn = null)
    {
        try
        {
            LossCurve.Write(_lossCurvePath, _train, _validation, baselines, logX);
            LossCurveWritten = true;
        }
        catch (Exception e)   // any failure (native Skia library missing, disk full, path taken): training goes on
        {
            if (_lossCurveFailed) return;
            _lossCurveFailed = true;
            (warn ?? Console.Error.WriteLine)($"BitTtt.Training: warning: could not write {_lossCurvePath} ({e.GetType().Name}: {e.Message}); " +
                "training continues and metrics.csv has every figure");
        }
    }

    public static void WriteBaselines(string directory, BaselineLosses baselines, long trainTokens, long validationTokens)
    {
        var json = new Dictionary<string, object>
        {
            ["unigram"] = baselines.Unigram, ["bigram"] = baselines.Bigram, ["trigram"] = baselines.Trigram, ["unit"] = "nats/token",
            ["train_tokens"] = trainTokens, ["validation_tokens"] = validationTokens,
            ["models"] = new Dictionary<string, string> { ["unigram"] = "add-one", ["bigram"] = "interpolated Kneser-Ney", ["trigram"] = "interpolated Kneser-Ney" },
        };
        AtomicFile.WriteAllText(Path.Combine(directory, BaselinesFileName), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    public void Dispose() => _writer.Dispose();
}
