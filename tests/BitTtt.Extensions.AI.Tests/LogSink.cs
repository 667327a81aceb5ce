using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace BitTtt.Extensions.AI.Tests;

/// <summary>A logger provider that keeps every record (category, level, the formatted message, the exception), for tests that read the app's logs.</summary>
internal sealed class LogSink : ILoggerProvider
{
    public sealed record Entry(string Category, LogLevel Level, string Message, Exception? Exception)
    {
        /// <summary>What a console or OTLP exporter would show of it: the message, the structured values, the exception with its stack.</summary>
        public string Everything { get; init; } = "";
    }

    public ConcurrentQueue<Entry> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    /// <summary>Every record as text, one per line.</summary>
    public string All => string.Join("\n", Entries.Select(e => $"{e.Level} {e.Category}: {e.Everything}"));

    sealed class Logger(LogSink sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(", ", pairs.Select(p => $"{p.Key}={p.Value}")) : "";
            string message = formatter(state, exception);
            sink.Entries.Enqueue(new Entry(category, logLevel, message, exception) { Everything = $"{message} [{values}] {exception}" });
        }
    }
}
