using System.Diagnostics.Metrics;

namespace BitTtt.Orleans;

/// <summary>
/// The conversation grains' instruments, on the library's meter (name "BitTtt", the one the rest of the library
/// records on): memory saves (count, seconds, bytes), failed saves and loads.
/// </summary>
internal static class ConversationTelemetry
{
    /// <summary>The library's meter name.</summary>
    public const string MeterName = "BitTtt";

    static readonly Meter s_meter = new(MeterName);
    static readonly Counter<long> s_saves = s_meter.CreateCounter<long>("bitttt.conversation.memory.saves", "{save}",
        "Conversation memories written to grain storage after a turn");
    static readonly Counter<long> s_saveFailures = s_meter.CreateCounter<long>("bitttt.conversation.memory.save_failures", "{save}",
        "Turns dropped because their memory could not be written to grain storage");
    static readonly Histogram<double> s_saveSeconds = s_meter.CreateHistogram<double>("bitttt.conversation.memory.save.duration", "s",
        "Time to serialize a conversation's memory and write it to grain storage");
    static readonly Histogram<long> s_saveBytes = s_meter.CreateHistogram<long>("bitttt.conversation.memory.size", "By",
        "Bytes of a conversation's memory (the memory file) written per turn");
    static readonly Counter<long> s_loads = s_meter.CreateCounter<long>("bitttt.conversation.memory.loads", "{load}",
        "Conversation memories restored from grain storage into a session");

    public static void Saved(long bytes, TimeSpan elapsed)
    {
        s_saves.Add(1);
        s_saveSeconds.Record(elapsed.TotalSeconds);
        s_saveBytes.Record(bytes);
    }

    public static void SaveFailed() => s_saveFailures.Add(1);

    public static void Loaded() => s_loads.Add(1);
}
