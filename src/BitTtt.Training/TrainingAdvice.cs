using System.Globalization;
using System.Runtime.CompilerServices;

namespace BitTtt.Training;

/// <summary>
/// What to change when a finished run is undertrained: which n-gram baseline (docs/training.md, "Baselines") its
/// validation loss did not beat, and what is most likely to help given the run's validation history, its size and
/// its corpus. The text names options with <see cref="OptionMessage"/>, so each front end spells them as its users
/// typed them (<c>--steps</c> in <c>bit-llama train</c>, <c>MaxSteps</c> in ML.NET).
/// </summary>
public static class TrainingAdvice
{
    /// <summary>A loss still falling by more than this share between the last two validations is "still falling".</summary>
    const double StillFalling = 0.005;
    /// <summary>Training tokens per vocabulary entry below which the vocabulary is called large for the text.</summary>
    const double TokensPerEntry = 300;

    /// <summary>
    /// The advice for a run that does not beat all three baselines, or null when it does (or has no validation data).
    /// <paramref name="trainTokens"/> adds a vocabulary hint when the model's vocabulary is
    /// large for the text; <paramref name="tokenizerTrained"/> says whether the run chose the vocabulary (only then is
    /// a smaller one offered).
    /// </summary>
    public static FormattableString? For(TrainingResult result, TrainingOptions options, long trainTokens, bool tokenizerTrained)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(options);
        if (result.ValidationLoss is not { } loss || result.Baselines is not { } b || b.AllBeatenBy(loss)) return null;
        var inv = CultureInfo.InvariantCulture;
        FormattableString where = loss >= b.Unigram
            ? (FormattableString)$"undertrained: validation {loss.ToString("0.00", inv)} nats is no better than the unigram baseline ({b.Unigram.ToString("0.00", inv)}), so the model has learned little beyond how often each token occurs."
            : loss >= b.Bigram
                ? (FormattableString)$"undertrained: validation {loss.ToString("0.00", inv)} nats is above the Kneser-Ney bigram ({b.Bigram.ToString("0.00", inv)}): it predicts worse than counting pairs of tokens."
                : (FormattableString)$"undertrained: validation {loss.ToString("0.00", inv)} nats beats the bigram ({b.Bigram.ToString("0.00", inv)}) but not the Kneser-Ney trigram ({b.Trigram.ToString("0.00", inv)}), which counts triples of tokens.";
        var hints = new List<FormattableString>();
        var history = result.ValidationHistory;
        bool falling = history.Count >= 2 && history[^1].Loss < history[^2].Loss * (1 - StillFalling);
        bool rising = history.Count >= 3 && history[^1].Loss > history[^2].Loss && history[^2].Loss > history[^3].Loss;
        if (rising)
            hints.Add($"The validation loss rose over the last evaluations ({Losses(history, 3)}) while training went on: the model is memorising this text; train fewer steps ({OptionMessage.Name(nameof(TrainingOptions.MaxSteps))}) or a smaller model ({OptionMessage.Name(nameof(TrainingOptions.HiddenDim))}, {OptionMessage.Name(nameof(TrainingOptions.NumLayers))}).");
        else if (falling)
            hints.Add($"The validation loss was still falling ({Losses(history, 2)}): more steps ({OptionMessage.Name(nameof(TrainingOptions.MaxSteps))}, now {options.MaxSteps}) will lower it; a smaller model ({OptionMessage.Name(nameof(TrainingOptions.HiddenDim))} {options.HiddenDim}, {OptionMessage.Name(nameof(TrainingOptions.NumLayers))} {options.NumLayers}) takes more steps in the same time.");
        else if (history.Count < 2)
            hints.Add($"Train more steps ({OptionMessage.Name(nameof(TrainingOptions.MaxSteps))}, now {options.MaxSteps}); with a validation every few hundred steps ({OptionMessage.Name(nameof(TrainingOptions.EvalInterval))}) this advice can also tell whether the loss is still falling.");
        else
            hints.Add($"The validation loss had levelled off: a larger model ({OptionMessage.Name(nameof(TrainingOptions.HiddenDim))} {options.HiddenDim}, {OptionMessage.Name(nameof(TrainingOptions.NumLayers))} {options.NumLayers}), a higher learning rate ({OptionMessage.Name(nameof(TrainingOptions.LearningRate))} {options.LearningRate.ToString("0.####", inv)}) or more text is what is left.");
        int vocab = result.Config.VocabSize;
        if (tokenizerTrained && trainTokens > 0 && (double)trainTokens / vocab < TokensPerEntry)
            hints.Add($"The vocabulary ({vocab}) is large for {trainTokens.ToString("N0", inv)} training tokens ({((double)trainTokens / vocab).ToString("0", inv)} per entry): a smaller {OptionMessage.Name("VocabSize")} gives each entry more examples.");
        if (options.TimeBudget is null)
            hints.Add($"{OptionMessage.Name(nameof(TrainingOptions.TimeBudget))} sizes the model, batch and steps to this machine and corpus.");
        return Join(where, hints);
    }

    static string Losses(IReadOnlyList<(int Step, double Loss)> history, int last) =>
        string.Join(", ", history.Skip(history.Count - last).Select(h => string.Create(CultureInfo.InvariantCulture, $"{h.Loss:0.000} at step {h.Step}")));

    // One FormattableString whose arguments are the nested sentences, so OptionMessage.Format spells the names in each.
    static FormattableString Join(FormattableString head, List<FormattableString> hints)
    {
        var parts = new object[hints.Count + 1];
        parts[0] = head;
        for (int i = 0; i < hints.Count; i++) parts[i + 1] = hints[i];
        string format = string.Join(" ", Enumerable.Range(0, parts.Length).Select(i => $"{{{i}}}"));
        return FormattableStringFactory.Create(format, parts);
    }
}
