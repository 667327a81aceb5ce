using System.Diagnostics;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace BitTtt.Samples.BusinessApp;

/// <summary>
/// The generations this app is running and has run: counts for the readiness check and the shutdown, and one structured
/// log line per generation (endpoint, token counts, finish reason or why it stopped, duration). Prompt and completion
/// text are logged only with <see cref="ApiLimits.LogContent"/>; the library's metrics (BitLlamaTelemetry) have the rest.
/// </summary>
public sealed partial class GenerationStats(ILogger<GenerationStats> logger, IOptions<ApiLimits> limits)
{
    readonly ILogger _logger = logger;
    readonly bool _logContent = limits.Value.LogContent;
    long _pieces;
    int _active;

    public long PiecesGenerated => Interlocked.Read(ref _pieces);
    public int ActiveGenerations => Volatile.Read(ref _active);

    /// <summary>A generation starts; <paramref name="prompt"/> is only kept when content is logged.</summary>
    internal Active Begin(string endpoint, object prompt)
    {
        Interlocked.Increment(ref _active);
        return new Active(this, endpoint, _logContent ? prompt : null);
    }

    /// <summary>One generation: dispose it when the request ends; it logs once.</summary>
    internal sealed class Active(GenerationStats stats, string endpoint, object? prompt) : IDisposable
    {
        readonly long _start = Stopwatch.GetTimestamp();
        readonly System.Text.StringBuilder? _text = prompt is null ? null : new();
        (int Prompt, int Cached, int Completion, string Finish)? _finished;
        string _stopped = "stopped before the end (the client left, or an error)";
        int _done;

        /// <summary>A piece of text was sent.</summary>
        public void Piece(string text)
        {
            Interlocked.Increment(ref stats._pieces);
            _text?.Append(text);
        }

        public void Finished(int promptTokens, int cachedTokens, int completionTokens, string finishReason, string? text)
        {
            _finished = (promptTokens, cachedTokens, completionTokens, finishReason);
            if (text is not null) _text?.Clear().Append(text);
        }

        public void Finished(UsageDetails? usage, string finishReason, string? text) => Finished((int)(usage?.InputTokenCount ?? 0),
            (int)(usage?.CachedInputTokenCount ?? 0), (int)(usage?.OutputTokenCount ?? 0), finishReason, text);

        /// <summary>The generation was stopped, for <paramref name="why"/>.</summary>
        public void Stopped(string why) => _stopped = why;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0) return;
            Interlocked.Decrement(ref stats._active);
            double ms = Stopwatch.GetElapsedTime(_start).TotalMilliseconds;
            if (_finished is { } f) LogFinished(stats._logger, endpoint, f.Prompt, f.Cached, f.Completion, f.Finish, ms);
            else LogStopped(stats._logger, endpoint, _stopped, ms);
            if (prompt is not null) LogContent(stats._logger, endpoint, Format(prompt), _text!.ToString());
        }

        static string Format(object prompt) => prompt is IEnumerable<ChatMessage> messages
            ? string.Join("\n", messages.Select(m => $"{m.Role}: {m.Text}"))
            : prompt.ToString() ?? "";
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "{Endpoint}: {PromptTokens} prompt tokens ({CachedTokens} from the prefix cache), {CompletionTokens} completion tokens, finish {FinishReason}, {DurationMs:F0} ms")]
    static partial void LogFinished(ILogger logger, string endpoint, int promptTokens, int cachedTokens, int completionTokens, string finishReason, double durationMs);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "{Endpoint}: {Reason}, after {DurationMs:F0} ms")]
    static partial void LogStopped(ILogger logger, string endpoint, string reason, double durationMs);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "{Endpoint} content (Api:LogContent is on): prompt {Prompt} completion {Completion}")]
    static partial void LogContent(ILogger logger, string endpoint, string prompt, string completion);
}
