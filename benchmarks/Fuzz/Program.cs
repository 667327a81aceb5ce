using System.Diagnostics;
using BitTtt.Fuzz;

// Long-run mutation fuzzing of every format a BitLlama loads (docs/reliability.md):
//   dotnet run -c Release --project benchmarks/Fuzz -- [--inputs N] [--format bitt|config|tokenizer|safetensors|memory|all]
//       [--seed S] [--start I] [--corpus DIR] [--findings DIR] [--work DIR] [--replay FINDINGS_DIR]
// Prints per-format counts; exit code 1 when any input was a finding (saved under --findings).
var arguments = args.ToList();
string Arg(string name, string fallback) => ArgOr(name, () => fallback);
string ArgOr(string name, Func<string> fallback)
{
    int i = arguments.IndexOf(name);
    return i >= 0 && i + 1 < arguments.Count ? arguments[i + 1] : fallback();
}
long inputs = long.Parse(Arg("--inputs", "100000"));
int seed = int.Parse(Arg("--seed", "1"));
long start = long.Parse(Arg("--start", "0"));
string formatArg = Arg("--format", "all");
string corpus = ArgOr("--corpus", FindCorpus);
string findings = Path.GetFullPath(Arg("--findings", "fuzz-findings"));
string work = Arg("--work", Directory.Exists("/dev/shm") ? Path.Combine("/dev/shm", $"bitllama-fuzz-{Environment.ProcessId}") : Path.Combine(Path.GetTempPath(), $"bitllama-fuzz-{Environment.ProcessId}"));
Directory.CreateDirectory(work);
var formats = formatArg == "all" ? Enum.GetValues<FuzzFormat>() : [Enum.Parse<FuzzFormat>(formatArg, ignoreCase: true)];

using var campaign = new FuzzCampaign(corpus, work);
campaign.WarmUp();

// --replay DIR: run saved findings (<format>-<index>.bin) again and print what each does now.
if (arguments.Contains("--replay"))
{
    int bad = 0;
    foreach (var file in Directory.GetFiles(Arg("--replay", "."), "*.bin").Order(StringComparer.Ordinal))
    {
        var format = Enum.Parse<FuzzFormat>(Path.GetFileName(file).Split('-')[0], ignoreCase: true);
        var r = campaign.Targets.Run(format, File.ReadAllBytes(file));
        bad += r.Verdict == FuzzVerdict.Finding ? 1 : 0;
        Console.WriteLine($"{Path.GetFileName(file)}: {r.Verdict} in {r.Milliseconds:0} ms: {r.Detail}");
    }
    return bad == 0 ? 0 : 1;
}
// Watchdog: an input running for 30 s is a hang; save it and stop, since a hung thread cannot be aborted.
var watchdog = new Thread(() =>
{
    while (true)
    {
        Thread.Sleep(1000);
        var input = campaign.CurrentInput;
        if (input is not null && Stopwatch.GetElapsedTime(campaign.CurrentStarted) > TimeSpan.FromSeconds(30))
        {
            FuzzCampaign.Save(findings, campaign.CurrentFormat, campaign.CurrentIndex, input, "hang: still running after 30 s");
            Console.WriteLine($"HANG {campaign.CurrentFormat} #{campaign.CurrentIndex} saved to {findings}");
            Environment.Exit(3);
        }
    }
}) { IsBackground = true };
watchdog.Start();

Console.WriteLine($"fuzz: {inputs:N0} inputs per format, seed {seed}, start {start}, corpus {corpus}, work {work}");
long total = 0;
foreach (var format in formats)
{
    var s = campaign.Run(format, inputs, seed, start, findings, Console.WriteLine);
    total += s.Findings;
    Console.WriteLine($"{format}: {s.Inputs:N0} inputs in {s.Elapsed:hh\\:mm\\:ss} ({s.Inputs / s.Elapsed.TotalSeconds:0} /s): " +
                      $"{s.Rejected:N0} rejected (BitLlamaFormatException), {s.Accepted:N0} accepted and used, {s.Findings} findings; " +
                      $"{s.TargetMilliseconds / s.Elapsed.TotalMilliseconds:P0} of the time loading, slowest {s.SlowestMilliseconds:0} ms, most allocated {s.MostAllocatedBytes / 1048576.0:0.0} MiB");
    foreach (var f in s.FirstFindings) Console.WriteLine("  " + f);
}
using (var self = Process.GetCurrentProcess())
    Console.WriteLine($"peak working set {self.PeakWorkingSet64 / 1048576.0:0} MiB; findings {total}");
try { Directory.Delete(work, recursive: true); } catch (IOException) { }
return total == 0 ? 0 : 1;

static string FindCorpus()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        string candidate = Path.Combine(dir.FullName, "tests", "BitTtt.Inference.Tests", "FuzzCorpus");
        if (Directory.Exists(candidate)) return candidate;
    }
    throw new DirectoryNotFoundException("tests/BitTtt.Inference.Tests/FuzzCorpus not found above the program; pass --corpus");
}
