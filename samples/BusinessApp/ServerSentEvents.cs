namespace BitTtt.Samples.BusinessApp;

/// <summary>
/// A generation streamed as server-sent events, the same way for every endpoint: <c>data: {json}</c> per event, then
/// <c>data: [DONE]</c>. The first update is computed before any byte is sent (validation and the prompt run there, so
/// their errors still get a status code). A stream stopped by the shutdown's grace period ends with a final event that
/// says so, then <c>[DONE]</c>; a client that leaves stops the generation before its next token.
/// </summary>
internal static class ServerSentEvents
{
    /// <summary>
    /// Streams <paramref name="updates"/>: <paramref name="events"/> gives the events (JSON) of one update, none or several;
    /// <paramref name="stoppedEvent"/> the final event of a stream stopped at shutdown, given the reason.
    /// </summary>
    public static async Task RunAsync<T>(HttpContext http, IAsyncEnumerator<T> updates, GenerationShutdown shutdown, GenerationStats.Active active,
        Func<T, IEnumerable<string>> events, Func<string, string> stoppedEvent)
    {
        bool more = await updates.MoveNextAsync();
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        try
        {
            for (; more; more = await updates.MoveNextAsync())
                foreach (string data in events(updates.Current))
                    await WriteAsync(http, data);
        }
        catch (OperationCanceledException) when (!http.RequestAborted.IsCancellationRequested && shutdown.Stopped.IsCancellationRequested)
        {
            active.Stopped($"stopped by the shutdown: {shutdown.Reason}");
            await WriteAsync(http, stoppedEvent(shutdown.Reason));
        }
        await WriteAsync(http, "[DONE]");
    }

    static async Task WriteAsync(HttpContext http, string data)
    {
        await http.Response.WriteAsync($"data: {data}\n\n", http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }
}
