using System.Diagnostics;
using BitTtt.Training;

/// <summary>
/// <c>--busy</c>: training tokens/s on a quiet machine, then beside one CPU-bound child process (a shell busy
/// loop, alive for the whole measurement), and the ratio. With libgomp spin-waiting, one busy process cut
/// 2-thread training to a tenth; BitTtt.Training sets OMP_WAIT_POLICY=PASSIVE before libtorch loads
/// (TorchEnvironment), which should keep the ratio near the share of the cores left (target ≥ 40 %).
/// Run with <c>OMP_WAIT_POLICY=</c> (empty: libgomp warns and uses its default spin-then-sleep) to see the old
/// behaviour, or <c>OMP_WAIT_POLICY=ACTIVE</c> for pure spinning.
/// </summary>
static class BusyMachine
{
    public static void Run(bool quick)
    {
        int threads = Math.Min(2, Environment.ProcessorCount);
        Console.WriteLine($"-- busy machine: OMP_WAIT_POLICY as libgomp sees it = '{TorchEnvironment.NativeValue(TorchEnvironment.WaitPolicyVariable) ?? "(unset)"}', " +
            $"{threads} libtorch threads, {Environment.ProcessorCount} logical cores");
        var options = () => new TrainingOptions { HiddenDim = 64, NumLayers = 2, ContextLen = 64, BatchSize = 16, Threads = threads, TttType = BitTtt.TttType.Reconstruct };   // the layer its recorded figures used
        int timed = quick ? 20 : 60;
        Measure(options(), 1024, 3, 5);   // load libtorch and warm the allocator before either timing
        double quiet = Measure(options(), 1024, 3, timed);
        double busy;
        using (var child = StartBusyChild())
        {
            try
            {
                Thread.Sleep(500);
                busy = Measure(options(), 1024, 3, timed);
            }
            finally
            {
                child.Kill();
                child.WaitForExit();
            }
        }
        Console.WriteLine($"tiny 64×2, {threads} threads: quiet {quiet:0} tokens/s, beside one busy process {busy:0} tokens/s, ratio {busy / quiet:P0} (target ≥ 40 %)");
    }

    static Process StartBusyChild()
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("while :; do :; done");
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start /bin/sh for the busy loop");
    }

    /// <summary>Tokens/s over <paramref name="timed"/> steps after <paramref name="warmup"/> steps, on random ids.</summary>
    static double Measure(TrainingOptions options, int vocab, int warmup, int timed)
    {
        options.MaxSteps = warmup + timed;
        options.WarmupSteps = 1;
        options.EvalInterval = 0;
        string dir = Path.Combine(Path.GetTempPath(), $"bitttt-busy-bench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "tokens.bin");
            var rng = new Random(1);
            using (var writer = new TokenFileWriter(path))
            {
                writer.Append(Enumerable.Range(0, 100_000).Select(_ => rng.Next(vocab)).ToArray());
                writer.Commit();
            }
            using var tokens = TokenFile.Open(path);
            TimeSpan start = default, end = default;
            new BitLlamaTrainer(options, vocab).Train(tokens, null, new Recorder(p =>
            {
                if (p.Step == warmup) start = p.Elapsed;
                if (p.Step == warmup + timed) end = p.Elapsed;
            }));
            return (double)timed * options.BatchSize * options.ContextLen / (end - start).TotalSeconds;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
