using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace BitTtt.Inference.Diagnostics;

/// <summary>
/// The library's one <see cref="System.Diagnostics.Metrics.Meter"/> and one <see cref="System.Diagnostics.ActivitySource"/>,
/// both named <see cref="Name"/>: listen with OpenTelemetry's <c>AddMeter("BitTtt")</c> and <c>AddSource("BitTtt")</c>
/// (or a <see cref="MeterListener"/> / <see cref="ActivityListener"/>). Every instrument of every project is declared
/// here, so this file is the list (docs/apps.md, "Telemetry", has the same table). Nothing recorded here carries prompt
/// or completion text: only counts, durations and ids.
/// </summary>
public static class BitLlamaTelemetry
{
    /// <summary>The name of the meter and of the activity source.</summary>
    public const string Name = "BitTtt";

    static readonly string? Version = typeof(BitLlamaTelemetry).Assembly.GetName().Version?.ToString();

    public static readonly Meter Meter = new(Name, Version);
    public static readonly ActivitySource ActivitySource = new(Name, Version);

    // Seconds: 5 ms (a short cached prompt) to 60 s (a long prompt on a busy machine).
    static readonly InstrumentAdvice<double> SecondsBuckets = new()
    {
        HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    };

    static readonly InstrumentAdvice<double> RateBuckets = new()
    {
        HistogramBucketBoundaries = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
    };

    /// <summary>Prompt tokens fed by generations (a prefix restored from the prefix cache is not fed, so not counted).</summary>
    public static readonly Counter<long> PromptTokens =
        Meter.CreateCounter<long>("bitttt.tokens.prompt", "{token}", "Prompt tokens fed to the model by generations");

    /// <summary>Tokens sampled by generations (end-of-sequence not counted).</summary>
    public static readonly Counter<long> CompletionTokens =
        Meter.CreateCounter<long>("bitttt.tokens.completion", "{token}", "Tokens generated");

    /// <summary>From the start of a generation (prompt tokenized, cache looked up, prompt fed) to its first sampled token.</summary>
    public static readonly Histogram<double> TimeToFirstToken =
        Meter.CreateHistogram("bitttt.generation.time_to_first_token", "s", "Time from the start of a generation to its first token", advice: SecondsBuckets);

    /// <summary>Decode speed of one generation: tokens after the first divided by the time after the first.</summary>
    public static readonly Histogram<double> TokensPerSecond =
        Meter.CreateHistogram("bitttt.generation.tokens_per_second", "{token}/s", "Decode speed of a generation after its first token", advice: RateBuckets);

    /// <summary>Whole generations, prompt included, whether they finished or were stopped.</summary>
    public static readonly Histogram<double> GenerationDuration =
        Meter.CreateHistogram("bitttt.generation.duration", "s", "Duration of a generation, prompt included", advice: SecondsBuckets);

    /// <summary>Sessions running a call now (a generation, Learn, Logits, a memory save or load).</summary>
    public static readonly UpDownCounter<long> ActiveSessions =
        Meter.CreateUpDownCounter<long>("bitttt.sessions.active", "{session}", "Sessions running a call");

    /// <summary>Conversations a chat client holds in memory (one session each).</summary>
    public static readonly UpDownCounter<long> LiveConversations =
        Meter.CreateUpDownCounter<long>("bitttt.conversations.live", "{conversation}", "Conversations held in memory by chat clients");

    /// <summary>Conversations evicted from a chat client (saved to its memory directory, or dropped without one).</summary>
    public static readonly Counter<long> ConversationsEvicted =
        Meter.CreateCounter<long>("bitttt.conversations.evicted", "{conversation}", "Conversations evicted to stay within MaxConversations");

    /// <summary>Prefix-cache lookups that restored a cached state.</summary>
    public static readonly Counter<long> PrefixCacheHits =
        Meter.CreateCounter<long>("bitttt.prefix_cache.hits", "{lookup}", "Prompts that started from a cached state");

    /// <summary>Prefix-cache lookups that found no cached prefix of the prompt.</summary>
    public static readonly Counter<long> PrefixCacheMisses =
        Meter.CreateCounter<long>("bitttt.prefix_cache.misses", "{lookup}", "Prompts with no cached prefix");

    /// <summary>Prompt tokens not fed because a cached state already held them.</summary>
    public static readonly Counter<long> PrefixCacheReusedTokens =
        Meter.CreateCounter<long>("bitttt.prefix_cache.reused_tokens", "{token}", "Prompt tokens restored from the prefix cache instead of fed");

    /// <summary>Cached states dropped to stay within the cache's entry and byte bounds.</summary>
    public static readonly Counter<long> PrefixCacheEvictions =
        Meter.CreateCounter<long>("bitttt.prefix_cache.evictions", "{entry}", "Prefix-cache entries evicted");

    // A memory save: under a millisecond (a small model to a local store) to seconds (a large one to a store that is struggling).
    static readonly InstrumentAdvice<double> SaveSecondsBuckets = new()
    {
        HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    };

    // A memory: tens of kilobytes (a tiny model) to hundreds of megabytes (a wide one).
    static readonly InstrumentAdvice<long> MemoryBytesBuckets = new()
    {
        HistogramBucketBoundaries = [10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000, 30_000_000, 100_000_000, 300_000_000],
    };

    /// <summary>TTT memories written, tagged <see cref="MemoryStoreTag"/>.</summary>
    public static readonly Counter<long> MemorySaves =
        Meter.CreateCounter<long>("bitttt.memory.saves", "{save}", "TTT memories saved");

    /// <summary>TTT memories read back, tagged <see cref="MemoryStoreTag"/>.</summary>
    public static readonly Counter<long> MemoryLoads =
        Meter.CreateCounter<long>("bitttt.memory.loads", "{load}", "TTT memories loaded");

    /// <summary>Time to turn a memory into bytes and write it to a store that is not a file (conversation grains: grain storage), tagged <see cref="MemoryStoreTag"/>.</summary>
    public static readonly Histogram<double> MemorySaveDuration =
        Meter.CreateHistogram("bitttt.memory.save.duration", "s", "Time to serialize a TTT memory and write it to its store", advice: SaveSecondsBuckets);

    /// <summary>Bytes of each memory written to a store that is not a file (the memory-file bytes), tagged <see cref="MemoryStoreTag"/>.</summary>
    public static readonly Histogram<long> MemorySize =
        Meter.CreateHistogram("bitttt.memory.size", "By", "Bytes of a TTT memory written to its store", advice: MemoryBytesBuckets);

    /// <summary>Memory saves that failed, so the work they would have kept was dropped (a conversation turn that was not acknowledged), tagged <see cref="MemoryStoreTag"/>.</summary>
    public static readonly Counter<long> MemorySaveFailures =
        Meter.CreateCounter<long>("bitttt.memory.save_failures", "{save}", "TTT memories that could not be saved");

    /// <summary>
    /// The tag saying where a memory went or came from: <see cref="FileStore"/> for memory files, <see cref="GrainStore"/>
    /// for conversation grains' storage.
    /// </summary>
    public const string MemoryStoreTag = "bitttt.memory.store";

    /// <summary>The <see cref="MemoryStoreTag"/> of memory files.</summary>
    public const string FileStore = "file";

    /// <summary>The <see cref="MemoryStoreTag"/> of conversation grains (BitTtt.Orleans), written through Orleans grain storage.</summary>
    public const string GrainStore = "grain";

    /// <summary>The activity (span) of one generation; its tags follow OpenTelemetry's GenAI conventions where one applies.</summary>
    public const string GenerationActivityName = "bitttt.generate";

    static readonly InstrumentAdvice<int> SequenceBuckets = new() { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 48, 64] };
    static readonly InstrumentAdvice<int> TokenBuckets = new() { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 192, 256] };

    /// <summary>Sessions in one forward step of the batching scheduler (the batch size).</summary>
    public static readonly Histogram<int> StepSequences =
        Meter.CreateHistogram("bitttt.step.sequences", "{sequence}", "Sessions advanced together by one forward step", advice: SequenceBuckets);

    /// <summary>Tokens in one forward step: one per decoding session plus the prompt chunks.</summary>
    public static readonly Histogram<int> StepTokens =
        Meter.CreateHistogram("bitttt.step.tokens", "{token}", "Tokens fed by one forward step (decode tokens and prompt chunks)", advice: TokenBuckets);

    /// <summary>Calls ready for a step that did not fit in it and wait for the next (the scheduler's queue length).</summary>
    public static readonly Histogram<int> StepQueued =
        Meter.CreateHistogram("bitttt.step.queued", "{call}", "Calls waiting for a later step when a step is full", advice: SequenceBuckets);
}
