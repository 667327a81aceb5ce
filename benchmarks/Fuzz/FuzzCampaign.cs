using System.Diagnostics;

namespace BitTtt.Fuzz;

/// <summary>Counts of one run over one format.</summary>
public sealed record FuzzSummary(FuzzFormat Format, long Inputs, long Rejected, long Accepted, long Findings,
    double SlowestMilliseconds, long MostAllocatedBytes, TimeSpan Elapsed, IReadOnlyList<string> FirstFindings, double TargetMilliseconds);

/// <summary>
/// A deterministic mutation run over a seed corpus (FuzzCorpus/seeds): input i of format f is mutation
/// <c>Random(seed, f, i)</c> of a seed, so a finding is reproduced by its index alone. Findings are written to a
/// directory as <c>&lt;format&gt;-&lt;index&gt;.bin</c> plus a <c>.txt</c> with what happened.
/// </summary>
public sealed class FuzzCampaign : IDisposable
{
    readonly FuzzTargets _targets;
    readonly Dictionary<FuzzFormat, byte[][]> _seeds = [];

    /// <summary>Bytes of the input being run and when it started (ticks), for a watchdog on another thread.</summary>
    public volatile byte[]? CurrentInput;
    public long CurrentStarted;
    public FuzzFormat CurrentFormat;
    public long CurrentIndex;

    public FuzzCampaign(string corpusDirectory, string workDirectory)
    {
        string seeds = Path.Combine(corpusDirectory, "seeds");
        _targets = new FuzzTargets(workDirectory, Path.Combine(seeds, "model"));
        foreach (var format in Enum.GetValues<FuzzFormat>())
        {
            var files = new List<byte[]>();
            string dir = Path.Combine(seeds, format.ToString().ToLowerInvariant());
            if (Directory.Exists(dir)) files.AddRange(Directory.GetFiles(dir).Order(StringComparer.Ordinal).Select(File.ReadAllBytes));
            string model = Path.Combine(seeds, "model");
            string? own = format switch
            {
                FuzzFormat.Config => "config.json",
                FuzzFormat.Tokenizer => "tokenizer.json",
                FuzzFormat.SafeTensors => "model.safetensors",
                _ => null,
            };
            if (own is not null) files.Insert(0, File.ReadAllBytes(Path.Combine(model, own)));
            if (files.Count == 0) throw new DirectoryNotFoundException($"{dir}: no seed files for {format}");
            _seeds[format] = [.. files];
        }
    }

    public FuzzTargets Targets => _targets;

    public void Dispose() => _targets.Dispose();

    /// <summary>Input <paramref name="index"/> of <paramref name="format"/> for <paramref name="seed"/>.</summary>
    public byte[] Input(FuzzFormat format, int seed, long index)
    {
        var seeds = _seeds[format];
        var rng = new Random(HashCode.Combine(seed, (int)format, index));
        return FuzzMutator.Mutate(format, seeds[rng.Next(seeds.Length)], seeds, rng);
    }

    /// <summary>Runs every seed once, uncounted, so JIT compilation is not charged to the first inputs.</summary>
    public void WarmUp()
    {
        foreach (var (format, seeds) in _seeds)
            foreach (var seed in seeds)
                _targets.Run(format, seed);
    }

    public FuzzSummary Run(FuzzFormat format, long count, int seed = 1, long startIndex = 0, string? findingsDirectory = null,
        Action<string>? progress = null, TimeSpan? progressEvery = null)
    {
        long rejected = 0, accepted = 0, findings = 0, mostAllocated = 0;
        double slowest = 0, targetMs = 0;
        var first = new List<string>();
        var clock = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        for (long i = startIndex; i < startIndex + count; i++)
        {
            byte[] input = Input(format, seed, i);
            (CurrentFormat, CurrentIndex, CurrentStarted) = (format, i, Stopwatch.GetTimestamp());
            CurrentInput = input;
            var result = _targets.Run(format, input);
            CurrentInput = null;
            slowest = Math.Max(slowest, result.Milliseconds);
            targetMs += result.Milliseconds;
            mostAllocated = Math.Max(mostAllocated, result.AllocatedBytes);
            switch (result.Verdict)
            {
                case FuzzVerdict.Rejected: rejected++; break;
                case FuzzVerdict.Accepted: accepted++; break;
                default:
                    findings++;
                    if (first.Count < 20) first.Add($"{format} #{i}: {result.Detail}");
                    if (findingsDirectory is not null) Save(findingsDirectory, format, i, input, result.Detail);
                    break;
            }
            if (progress is not null && clock.Elapsed - lastReport >= (progressEvery ?? TimeSpan.FromSeconds(60)))
            {
                lastReport = clock.Elapsed;
                progress($"{format}: {i - startIndex + 1:N0}/{count:N0} inputs, {rejected:N0} rejected, {accepted:N0} accepted, {findings} findings, {clock.Elapsed:hh\\:mm\\:ss}");
            }
        }
        return new FuzzSummary(format, count, rejected, accepted, findings, slowest, mostAllocated, clock.Elapsed, first, targetMs);
    }

    public static void Save(string directory, FuzzFormat format, long index, byte[] input, string detail)
    {
        Directory.CreateDirectory(directory);
        string name = $"{format.ToString().ToLowerInvariant()}-{index}";
        File.WriteAllBytes(Path.Combine(directory, name + ".bin"), input);
        File.WriteAllText(Path.Combine(directory, name + ".txt"), detail + Environment.NewLine);
    }
}
