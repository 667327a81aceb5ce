using System.Diagnostics;

namespace BitTtt.Inference.Diagnostics;

/// <summary>
/// What one generation records in <see cref="BitLlamaTelemetry"/>: its activity, time to first token, decode speed,
/// token counts and duration. Started when the generation's prompt starts, ended once (finished, or stopped early).
/// </summary>
internal sealed class GenerationTelemetry
{
    readonly long _start = Stopwatch.GetTimestamp();
    readonly Activity? _activity;
    long _firstToken;
    bool _ended;

    public GenerationTelemetry(SamplingOptions options)
    {
        // Started without becoming Activity.Current for the caller: a synchronous Generate runs this on the caller's
        // thread, and the caller's later spans are not children of a generation that has ended.
        var previous = Activity.Current;
        _activity = BitLlamaTelemetry.ActivitySource.StartActivity(BitLlamaTelemetry.GenerationActivityName, ActivityKind.Internal);
        Activity.Current = previous;
        if (_activity is { IsAllDataRequested: true } a)
        {
            a.SetTag("gen_ai.operation.name", "text_completion");
            a.SetTag("gen_ai.request.max_tokens", options.MaxTokens);
            a.SetTag("gen_ai.request.temperature", options.Temperature);
            a.SetTag("gen_ai.request.top_k", options.TopK);
            a.SetTag("gen_ai.request.top_p", options.TopP);
            if (options.Seed is { } seed) a.SetTag("gen_ai.request.seed", seed);
        }
    }

    /// <summary>The prompt is in the memory: <paramref name="fed"/> tokens were fed, <paramref name="reused"/> restored from the prefix cache.</summary>
    public void PromptFed(int fed, int reused)
    {
        BitLlamaTelemetry.PromptTokens.Add(fed);
        _activity?.SetTag("bitttt.prefix_cache.reused_tokens", reused);
    }

    /// <summary>The first token was sampled.</summary>
    public void FirstToken()
    {
        if (_firstToken != 0) return;
        _firstToken = Stopwatch.GetTimestamp();
        BitLlamaTelemetry.TimeToFirstToken.Record(Stopwatch.GetElapsedTime(_start, _firstToken).TotalSeconds);
        _activity?.AddEvent(new ActivityEvent("first_token"));
    }

    /// <summary>The generation finished (<paramref name="reason"/>) or, with null, stopped before its end (cancelled, disposed, failed).</summary>
    public void End(int promptTokens, int completionTokens, LlamaFinishReason? reason)
    {
        if (_ended) return;
        _ended = true;
        long now = Stopwatch.GetTimestamp();
        BitLlamaTelemetry.CompletionTokens.Add(completionTokens);
        BitLlamaTelemetry.GenerationDuration.Record(Stopwatch.GetElapsedTime(_start, now).TotalSeconds);
        if (_firstToken != 0 && completionTokens > 1 && Stopwatch.GetElapsedTime(_firstToken, now).TotalSeconds is > 0 and var decode)
            BitLlamaTelemetry.TokensPerSecond.Record((completionTokens - 1) / decode);
        if (_activity is null) return;
        _activity.SetTag("gen_ai.usage.input_tokens", promptTokens);
        _activity.SetTag("gen_ai.usage.output_tokens", completionTokens);
        if (reason is { } r) _activity.SetTag("gen_ai.response.finish_reasons", new[] { FinishReasonName(r) });
        else _activity.SetStatus(ActivityStatusCode.Error, "stopped before the end (cancelled, disposed or failed)");
        _activity.Stop();
    }

    static string FinishReasonName(LlamaFinishReason reason) => reason switch
    {
        LlamaFinishReason.Length => "length",
        LlamaFinishReason.StopString => "stop",
        LlamaFinishReason.EndOfTurn => "end_of_turn",
        _ => "end_of_sequence",
    };
}
