using System.Diagnostics;
using System.Text;
using BitTtt.Formats;
using BitTtt.Inference;
using BitTtt.Tokenization;

namespace BitTtt.Fuzz;

public enum FuzzFormat { Bitt, Config, Tokenizer, SafeTensors, Memory }

/// <summary>What one input did: rejected with a <see cref="BitLlamaFormatException"/> (the only acceptable
/// failure), accepted and worked, or a finding (another exception, a lossy tokenizer, too slow, too much memory).</summary>
public enum FuzzVerdict { Rejected, Accepted, Finding }

public sealed record FuzzResult(FuzzVerdict Verdict, string Detail, double Milliseconds, long AllocatedBytes);

/// <summary>
/// Loads one (mutated) file through the public API the way a user would, in a scratch directory that holds
/// the other valid files of the model: <c>Llama.LoadAuto</c> for .bitt and model directories,
/// <c>BitLlamaConfig.Load</c>, <c>BitLlamaTokenizer.Load</c>, <c>SafeTensorsReader.Open</c>, <c>LlamaSession.LoadMemory</c>
/// (a TTT memory file, into a session of the seed model). An accepted input is
/// then used: every tensor read, the tokenizer must round-trip a text and decode every id, and the model must
/// generate, so a file that loads but fails later is a finding too.
/// </summary>
public sealed class FuzzTargets : IDisposable
{
    /// <summary>Text with ASCII, digits, punctuation, Latin-1, CJK, an emoji, tabs and newlines.</summary>
    public const string Sample = "Call me Ishmael. In 1851 — café, 東京 🐋!\n\tThe end.  ";

    /// <summary>An input that takes this much CPU time to load or reject is a finding (a user waits; a server
    /// stalls). CPU time, not wall time, so a shared machine's load does not make findings.</summary>
    public static readonly TimeSpan SlowLimit = TimeSpan.FromSeconds(1);

    /// <summary>Wall time after which an input is a hang whatever its CPU time says (generous: a nice'd run on a
    /// shared machine waits seconds for a core; the long run's watchdog stops at the same limit).</summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(30);

    readonly Process _self = Process.GetCurrentProcess();

    /// <summary>Bytes allocated for one small input beyond which it is a finding (the seed model is ~60 KB).</summary>
    public const long AllocationLimit = 64L << 20;

    readonly string _dir;
    readonly Dictionary<FuzzFormat, string> _paths = [];

    /// <param name="workDirectory">A scratch directory (tmpfs is fastest); the targets own it.</param>
    /// <param name="seedModel">A model directory written by <c>bit-llama train</c>: config.json, tokenizer.json, model.safetensors.</param>
    public FuzzTargets(string workDirectory, string seedModel)
    {
        _dir = workDirectory;
        foreach (var format in new[] { FuzzFormat.Config, FuzzFormat.Tokenizer, FuzzFormat.SafeTensors })
        {
            string model = Path.Combine(_dir, format.ToString().ToLowerInvariant());
            Directory.CreateDirectory(model);
            foreach (var name in new[] { "config.json", "tokenizer.json", "model.safetensors" })
                File.Copy(Path.Combine(seedModel, name), Path.Combine(model, name), overwrite: true);
            _paths[format] = model;
        }
        _paths[FuzzFormat.Bitt] = Path.Combine(_dir, "model.bitt");
        _paths[FuzzFormat.Memory] = Path.Combine(_dir, "memory.bttm");
        _memoryModel = Llama.LoadAuto(seedModel);
        _memorySession = _memoryModel.CreateSession();
    }

    // Memory files are loaded into one session of the seed model (the seeds were saved from it).
    readonly Llama _memoryModel;
    readonly LlamaSession _memorySession;

    public void Dispose()
    {
        _memorySession.Dispose();
        _memoryModel.Dispose();
    }

    public FuzzResult Run(FuzzFormat format, byte[] input)
    {
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        _self.Refresh();
        var cpuBefore = _self.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        FuzzVerdict verdict;
        string detail;
        try
        {
            detail = Load(format, input);
            verdict = detail.Length == 0 ? FuzzVerdict.Accepted : FuzzVerdict.Finding;
        }
        catch (BitLlamaFormatException e)
        {
            verdict = FuzzVerdict.Rejected;
            detail = e.Message;
        }
        catch (Exception e)
        {
            verdict = FuzzVerdict.Finding;
            detail = $"{e.GetType().Name}: {e.Message} at {e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}";
        }
        clock.Stop();
        _self.Refresh();
        var cpu = _self.TotalProcessorTime - cpuBefore;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        if (verdict != FuzzVerdict.Finding && (cpu > SlowLimit || clock.Elapsed > HangLimit))
            (verdict, detail) = (FuzzVerdict.Finding, $"slow: {cpu.TotalMilliseconds:0} ms CPU, {clock.Elapsed.TotalMilliseconds:0} ms wall ({detail})");
        if (verdict != FuzzVerdict.Finding && allocated > AllocationLimit)
            (verdict, detail) = (FuzzVerdict.Finding, $"memory: {allocated >> 20} MiB allocated ({detail})");
        return new FuzzResult(verdict, detail, clock.Elapsed.TotalMilliseconds, allocated);
    }

    /// <summary>Returns "" when the input loaded and worked, else what went wrong after it loaded.</summary>
    string Load(FuzzFormat format, byte[] input)
    {
        switch (format)
        {
            case FuzzFormat.Bitt:
                File.WriteAllBytes(_paths[format], input);
                return Use(_paths[format]);
            case FuzzFormat.Config:
            {
                string path = Path.Combine(_paths[format], "config.json");
                File.WriteAllBytes(path, input);
                BitLlamaConfig.Load(path);
                return Use(_paths[format]);
            }
            case FuzzFormat.Tokenizer:
            {
                string path = Path.Combine(_paths[format], "tokenizer.json");
                File.WriteAllBytes(path, input);
                string problem = UseTokenizer(BitLlamaTokenizer.Load(path));
                return problem.Length > 0 ? problem : Use(_paths[format]);
            }
            case FuzzFormat.Memory:
            {
                File.WriteAllBytes(_paths[format], input);
                _memorySession.LoadMemory(_paths[format]);
                // The loaded state must carry generation on.
                _memorySession.Complete("Call me", SamplingOptions.Greedy(3));
                return "";
            }
            default:
            {
                string path = Path.Combine(_paths[format], "model.safetensors");
                File.WriteAllBytes(path, input);
                using (var reader = SafeTensorsReader.Open(path))
                    foreach (var t in reader.Tensors)
                        reader.ReadFloat32(t.Name);
                return Use(_paths[format]);
            }
        }
    }

    static string Use(string modelPath)
    {
        using var llama = Llama.LoadAuto(modelPath);
        string problem = UseTokenizer(llama.Tokenizer);
        if (problem.Length > 0) return problem;
        // Every id the model can sample must decode; generation must run.
        var decoder = llama.Tokenizer.CreateStreamDecoder();
        for (int id = 0; id < llama.Config.VocabSize && id < llama.Tokenizer.VocabSize; id++) decoder.Append(id);
        decoder.Flush();
        llama.Complete("Call me", SamplingOptions.Greedy(3));
        llama.Complete(Sample, new SamplingOptions { MaxTokens = 3, Seed = 1 });
        return "";
    }

    static string UseTokenizer(BitLlamaTokenizer tokenizer)
    {
        int[] ids = tokenizer.Encode(Sample);
        string back = tokenizer.Decode(ids);
        if (back != Sample) return $"lossy tokenizer: '{Sample}' came back as '{back}'";
        var decoder = tokenizer.CreateStreamDecoder();
        var text = new StringBuilder();
        foreach (int id in ids) text.Append(decoder.Append(id));
        text.Append(decoder.Flush());
        return text.ToString() == Sample ? "" : $"stream decoder: '{Sample}' came back as '{text}'";
    }
}
