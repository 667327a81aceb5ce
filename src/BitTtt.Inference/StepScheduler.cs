using BitTtt.Inference.Diagnostics;
using BitTtt.Inference.Engine;

namespace BitTtt.Inference;

/// <summary>
/// Continuous batching for the sessions of one <see cref="Llama"/>: a thread that runs forward steps over every call
/// that is ready (<see cref="LlamaGeneration.Ready"/>) — one token for each decoding session, a chunk of each waiting
/// prompt — so a step reads the weights once however many sessions run, and sessions join and leave between steps.
/// Each step takes every decoding session first (up to <see cref="MaxSequences"/>, rotating who goes first when
/// more wait), then prompt chunks of at most <see cref="SequenceState.MaxBatch"/> tokens each, up to
/// <see cref="StepRows"/> rows in all: a long prompt is fed a chunk per step beside the others, so it delays their
/// next token by one chunk's work, and a new short prompt starts at the next step (bounded time to first token).
/// After the step, the calls sample their next tokens in parallel on the model's <see cref="WorkerTeam"/>, then their
/// readers get their pieces. Disposal and cancellation are checked before every step.
/// <para>The thread starts with the first call and exits after <see cref="IdleExit"/> without work, so an idle model
/// holds no thread. Every row's arithmetic is independent of the others (docs/inference.md, "Batch invariance"):
/// a session's logits are bitwise the same alone or beside 63 others.</para>
/// </summary>
internal sealed class StepScheduler : IDisposable
{
    /// <summary>Rows (tokens) of one step.</summary>
    public const int StepRows = 256;

    /// <summary>Sessions of one step.</summary>
    public const int MaxSequences = 64;

    static readonly TimeSpan IdleExit = TimeSpan.FromSeconds(2);
    static readonly TimeSpan SpinBeforeSleep = TimeSpan.FromMicroseconds(100);

    readonly InferenceWeights _weights;
    readonly Lock _handoff;
    readonly StepBatch _batch;
    readonly List<LlamaGeneration> _incoming = new();   // submitted, not yet seen by the loop (under _handoff)
    readonly List<LlamaGeneration> _active = new();     // the loop's own
    readonly LlamaGeneration?[] _stepCalls = new LlamaGeneration?[MaxSequences];
    readonly HashSet<LlamaGeneration> _registered = new(ReferenceEqualityComparer.Instance);   // in _incoming or _active (under _handoff)
    readonly AfterStepJob _afterStep;
    readonly SemaphoreSlim _wake = new(0);
    readonly int[] _chunk = new int[SequenceState.MaxBatch];
    Thread? _thread;
    bool _sleeping, _disposed;
    int _rotation;

    public StepScheduler(InferenceWeights weights, Lock handoff)
    {
        _weights = weights;
        _handoff = handoff;
        _batch = new StepBatch(weights, StepRows, MaxSequences);
        _afterStep = new AfterStepJob(_stepCalls);
    }

    /// <summary>Adds a call (again) to the ones the loop steps; <paramref name="demand"/> marks a reader waiting for a piece.</summary>
    public void Submit(LlamaGeneration call, bool demand)
    {
        lock (_handoff)
        {
            if (demand) call.Demand();
            if (_disposed)
            {
                call.Fail(new ObjectDisposedException(nameof(Llama)), _handoff);
                return;
            }
            if (!_registered.Add(call)) return;
            _incoming.Add(call);
            if (_thread is null)
            {
                _thread = new Thread(Loop) { IsBackground = true, Name = "BitLlama step scheduler" };
                _thread.Start();
            }
            else if (_sleeping)
            {
                _sleeping = false;
                _wake.Release();
            }
        }
    }

    void Loop()
    {
        while (true)
        {
            lock (_handoff)
            {
                _active.AddRange(_incoming);
                _incoming.Clear();
                if (_disposed) { FailAll(new ObjectDisposedException(nameof(Llama))); _thread = null; return; }
            }
            DropStopped();
            int sequences = Plan();
            if (sequences == 0)
            {
                if (!WaitForWork()) return;
                continue;
            }
            BitLlamaTelemetry.StepSequences.Record(sequences);
            BitLlamaTelemetry.StepTokens.Record(_batch.Rows);
            if (_active.Count > sequences) BitLlamaTelemetry.StepQueued.Record(_active.Count - sequences);
            try
            {
                Run(sequences);
            }
            catch (Exception e)
            {
                for (int i = 0; i < sequences; i++) Unregister(_stepCalls[i]!, e);
            }
            _batch.Clear();
            Array.Clear(_stepCalls);
        }
    }

    /// <summary>The step, the calls' sampling (in parallel), then their pieces handed over.</summary>
    void Run(int sequences)
    {
        var team = _weights.Team;
        bool shared = team.TryEnter();
        try
        {
            Forward.Step(_batch, shared ? team : null);
            _afterStep.Count = sequences;
            Forward.Parallel(shared ? team : null, _afterStep, sequences, sequences > 1 ? Forward.ParallelWork : 0);
        }
        finally
        {
            if (shared) team.Exit();
        }
        for (int i = 0; i < sequences; i++)
        {
            var call = _stepCalls[i]!;
            if (call.Deliver(_handoff, wake: true)) Unregister(call, null);
        }
    }

    /// <summary>Fills the batch: decoding calls first (rotating), then prompt chunks; returns the sequences taken.</summary>
    int Plan()
    {
        int sequences = 0, count = _active.Count;
        if (count == 0) return 0;
        _rotation = (_rotation + 1) % count;
        for (int pass = 0; pass < 2; pass++)   // pass 0: one-token decode steps, pass 1: prompt chunks
            for (int k = 0; k < count && sequences < MaxSequences; k++)
            {
                var call = _active[(_rotation + k) % count];
                if (call.Decoding != (pass == 0) || !call.Ready || Contains(call, sequences)) continue;
                int n = call.Plan(_chunk, Math.Min(_batch.FreeRows, SequenceState.MaxBatch), out bool wantLogits);
                if (n == 0) continue;
                _batch.Add(call.Session.State, _chunk.AsSpan(0, n), wantLogits ? call.Session.LogitsBuffer : null);
                _stepCalls[sequences++] = call;
            }
        // Calls that ended while planning (a completion from existing logits that ends at once) hand over their end.
        for (int i = _active.Count - 1; i >= 0; i--)
            if (!_active[i].Ready && !Contains(_active[i], sequences) && _active[i].Deliver(_handoff, wake: true)) Unregister(_active[i], null);
        return sequences;
    }

    bool Contains(LlamaGeneration call, int sequences)
    {
        for (int i = 0; i < sequences; i++) if (ReferenceEquals(_stepCalls[i], call)) return true;
        return false;
    }

    /// <summary>Fails and drops the calls whose session or model was disposed or whose call was cancelled.</summary>
    void DropStopped()
    {
        for (int i = _active.Count - 1; i >= 0; i--)
            if (_active[i].StopReason() is { } stop) Unregister(_active[i], stop);
    }

    /// <summary>
    /// Removes a call from the loop; with <paramref name="failure"/>, ends it with that exception. Without one, a call that
    /// is ready again stays: its reader took the piece <see cref="LlamaGeneration.Deliver"/> handed over and asked for the
    /// next one (a <see cref="Submit"/> that found the call still registered) before this lock was taken, and removing it
    /// now would leave that reader waiting for a step that never comes.
    /// </summary>
    void Unregister(LlamaGeneration call, Exception? failure)
    {
        if (failure is not null) call.Fail(failure, _handoff);
        lock (_handoff)
        {
            if (failure is null && call.Ready) return;
            _active.Remove(call);
            _registered.Remove(call);
        }
    }

    void FailAll(Exception failure)
    {
        foreach (var call in _active.Concat(_incoming)) call.Fail(failure, _handoff);
        _active.Clear();
        _incoming.Clear();
        _registered.Clear();
    }

    /// <summary>Spins briefly for the next call (a reader asking for its next piece), then sleeps; false when the thread should exit.</summary>
    bool WaitForWork()
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        while (System.Diagnostics.Stopwatch.GetElapsedTime(started) < SpinBeforeSleep)
        {
            lock (_handoff) if (_incoming.Count > 0 || _disposed) return true;
            Thread.SpinWait(50);
        }
        lock (_handoff)
        {
            if (_incoming.Count > 0 || _disposed) return true;
            _sleeping = true;
        }
        bool woken = _wake.Wait(IdleExit);
        lock (_handoff)
        {
            _sleeping = false;
            if (woken || _incoming.Count > 0 || _disposed || _active.Count > 0) return true;
            _thread = null;   // the next Submit starts a new one
            return false;
        }
    }

    public void Dispose()
    {
        lock (_handoff)
        {
            if (_disposed) return;
            _disposed = true;
            if (_sleeping) _wake.Release();
            if (_thread is null) FailAll(new ObjectDisposedException(nameof(Llama)));
        }
    }

    /// <summary>Each call of the step samples its next token and decodes its text: one item per call, independent.</summary>
    sealed class AfterStepJob(LlamaGeneration?[] calls) : ITeamJob
    {
        public int Count;

        public void Run(int item) => calls[item]!.AfterStep();
    }
}
