namespace BitTtt.Inference.Engine;

/// <summary>One stage of a step split into items (row blocks of a matrix, sequences, heads, vocabulary blocks).</summary>
internal interface ITeamJob
{
    /// <summary>Runs item <paramref name="item"/>; items of one stage are independent of each other.</summary>
    void Run(int item);
}

/// <summary>
/// Helper threads that run the items of one stage beside the calling thread, allocating nothing per stage
/// (a <c>Parallel.For</c> allocates and pays a thread-pool hop each time, which a decode step of ~40 small stages
/// cannot afford). Items are claimed one at a time from a shared counter, so the caller never waits for a helper
/// that has not started (on a busy machine a helper may be descheduled: the caller then runs every item itself);
/// it waits only for items a helper is already running. Helpers spin briefly after a stage (the next stage of a
/// step follows within microseconds), then sleep, and exit after <see cref="IdleExit"/> without work, so an idle
/// model holds no threads. Which thread runs an item never changes its result: items write disjoint outputs.
/// One caller at a time (<see cref="TryEnter"/>); not reentrant.
/// </summary>
internal sealed class WorkerTeam : IDisposable
{
    /// <summary>How long a helper spins for the next stage before it sleeps.</summary>
    static readonly TimeSpan SpinBeforeSleep = TimeSpan.FromMicroseconds(50);

    /// <summary>How long a sleeping helper waits for work before its thread exits.</summary>
    static readonly TimeSpan IdleExit = TimeSpan.FromSeconds(2);

    readonly int _helpers;
    readonly SemaphoreSlim _wake = new(0);
    readonly Lock _threadsLock = new();
    int _running;                 // helper threads alive
    int _sleeping;                // helpers blocked on _wake
    long _claim;                  // high 32 bits: stage number, low 32 bits: next item
    int _done;                    // items finished in the current stage
    int _items;
    ITeamJob? _job;
    Exception? _failure;          // the first exception an item threw in the current stage
    int _owner;                   // 1 while a caller holds the team
    volatile bool _disposed;

    /// <summary>A team of the calling thread plus <paramref name="helpers"/> helper threads.</summary>
    public WorkerTeam(int helpers) => _helpers = Math.Max(0, helpers);

    /// <summary>The default size: one helper per other processor.</summary>
    public static WorkerTeam ForMachine() => new(Environment.ProcessorCount - 1);

    /// <summary>Threads that work on a stage, the caller included.</summary>
    public int Size => _helpers + 1;

    /// <summary>Takes the team for a step; false when another caller holds it (that caller then runs alone).</summary>
    public bool TryEnter() => !_disposed && Interlocked.CompareExchange(ref _owner, 1, 0) == 0;

    public void Exit() => Volatile.Write(ref _owner, 0);

    /// <summary>Runs items 0 .. <paramref name="items"/> − 1 of <paramref name="job"/> across the team and returns when all are done.</summary>
    public void Run(ITeamJob job, int items)
    {
        if (items <= 0) return;
        if (items == 1 || _helpers == 0 || _disposed)
        {
            for (int i = 0; i < items; i++) job.Run(i);
            return;
        }
        EnsureHelpers();
        long stage = (Volatile.Read(ref _claim) >> 32) + 1;
        _job = job;
        _items = items;
        Volatile.Write(ref _done, 0);
        Volatile.Write(ref _claim, stage << 32);          // publishes the job: helpers watch the stage number
        int sleeping = Volatile.Read(ref _sleeping);      // read once: a helper may stop sleeping (timeout) between two reads
        if (sleeping > 0) _wake.Release(Math.Min(_helpers, sleeping));
        Work(stage);
        var spin = new SpinWait();
        while (Volatile.Read(ref _done) < items) spin.SpinOnce(sleep1Threshold: -1);
        _job = null;
        if (Interlocked.Exchange(ref _failure, null) is { } failure) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    /// <summary>Claims and runs items of stage <paramref name="stage"/> until none is left.</summary>
    void Work(long stage)
    {
        while (true)
        {
            long claim = Volatile.Read(ref _claim);
            if (claim >> 32 != stage) return;
            int item = (int)(claim & 0xffffffff);
            if (item >= _items) return;
            if (Interlocked.CompareExchange(ref _claim, claim + 1, claim) != claim) continue;
            try { _job!.Run(item); }
            catch (Exception e) { Interlocked.CompareExchange(ref _failure, e, null); }   // rethrown by the caller
            finally { Interlocked.Increment(ref _done); }
        }
    }

    void EnsureHelpers()
    {
        if (Volatile.Read(ref _running) == _helpers) return;
        lock (_threadsLock)
            while (_running < _helpers && !_disposed)
            {
                _running++;
                new Thread(HelperLoop) { IsBackground = true, Name = "BitLlama engine worker" }.Start();
            }
    }

    void HelperLoop()
    {
        long seen = Volatile.Read(ref _claim) >> 32;
        while (!_disposed)
        {
            long stage = Volatile.Read(ref _claim) >> 32;
            if (stage != seen)
            {
                seen = stage;
                Work(stage);
                continue;
            }
            if (SpinUntilNextStage(seen)) continue;
            Interlocked.Increment(ref _sleeping);
            bool woken = _wake.Wait(IdleExit);
            Interlocked.Decrement(ref _sleeping);
            if (!woken && Volatile.Read(ref _claim) >> 32 == seen)
            {
                lock (_threadsLock) _running--;
                return;
            }
        }
        lock (_threadsLock) _running--;
    }

    /// <summary>Spins up to <see cref="SpinBeforeSleep"/> for a new stage; true when one came.</summary>
    bool SpinUntilNextStage(long seen)
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        while (!_disposed)
        {
            if (Volatile.Read(ref _claim) >> 32 != seen) return true;
            if (System.Diagnostics.Stopwatch.GetElapsedTime(started) > SpinBeforeSleep) return false;
            Thread.SpinWait(20);
        }
        return false;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_helpers > 0) _wake.Release(_helpers);
    }
}
