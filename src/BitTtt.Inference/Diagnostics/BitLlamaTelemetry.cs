using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace BitTtt.Inference.Diagnostics;

/// <summary>
/// The library's one <see cref="System.Diagnostics.Metrics.Meter"/> and one <see cref="System.Diagnostics.ActivitySource"/>,
/// both named <see cref="Name"/>: listen with OpenTelemetry's <c>AddMeter("BitTtt")</c> and <c>AddSource("BitTtt")</c>
/// (or a <see cref="MeterListener"/> / <see cref="ActivityListener"/>). Every instrument of every project is declared
/// here, so this file is the list. Nothing recorded here carries prompt or completion text: only counts, durations and ids.
/// </summary>
public static class BitLlamaTelemetry
{
    /// <summary>The name of the meter and of the activity source.</summary>
    public const string Name = "BitTtt";

    static readonly string? Version = typeof(BitLlamaTelemetry).Assembly.GetName().Version?.ToString();

    public static readonly Meter Meter = new(Name, Version);
    public static readonly ActivitySource ActivitySource = new(Name, Version);

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
