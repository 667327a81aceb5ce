using BitTtt.Tokenization;

namespace BitTtt.Training;

/// <summary>What <see cref="ChatCorpus.Encode"/> wrote.</summary>
public sealed record ChatCorpusCounts(int TrainConversations, int ValidationConversations, long TrainTokens, long ValidationTokens);

/// <summary>
/// Turns conversation files (<see cref="ChatData"/>, the OpenAI fine-tuning format) into training and validation
/// <see cref="TokenFile"/>s of examples: each conversation encoded by the model's chat template (docs/model.md §6.3)
/// with its counted tokens flagged, so the trainer learns the assistant replies.
/// </summary>
public static class ChatCorpus
{
    /// <summary>
    /// Encodes the conversations of <paramref name="paths"/> (read as one list, in the order given): the last
    /// <paramref name="validationFraction"/> of them (rounded down) go to <paramref name="validationPath"/>, the rest to
    /// <paramref name="trainPath"/>. Every line is checked before anything is written, so a bad line costs no work.
    /// Both files are written atomically.
    /// </summary>
    public static ChatCorpusCounts Encode(IReadOnlyList<string> paths, ChatFormat format, string trainPath, string validationPath,
        double validationFraction = TrainingDefaults.ValidationFraction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(format);
        if (paths.Count == 0) throw new ArgumentException("no conversation file given", nameof(paths));
        if (!(validationFraction >= 0 && validationFraction < 1))
            throw new ArgumentException($"validation fraction must be in [0, 1), got {validationFraction}", nameof(validationFraction));
        int total = 0;
        foreach (string path in paths)
            foreach (var _ in ChatData.Read(path))
            {
                cancellationToken.ThrowIfCancellationRequested();
                total++;
            }
        if (total == 0) throw new ArgumentException($"{string.Join(", ", paths)}: no conversation to train on (every line is blank)");
        int validation = (int)(total * validationFraction);
        using var train = new TokenFileWriter(trainPath, withFlags: true);
        using var held = new TokenFileWriter(validationPath, withFlags: true);
        int index = 0;
        foreach (string path in paths)
            foreach (var example in ChatData.Read(path))
            {
                cancellationToken.ThrowIfCancellationRequested();
                Append(index++ < total - validation ? train : held, format, example.Messages);
            }
        train.Commit();
        held.Commit();
        return new ChatCorpusCounts(total - validation, validation, train.Count, held.Count);
    }

    /// <summary>Appends one conversation to a writer of examples (<c>new TokenFileWriter(path, withFlags: true)</c>).</summary>
    public static void Append(TokenFileWriter writer, ChatFormat format, IReadOnlyList<ChatTurn> messages)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(format);
        var (ids, targets) = format.EncodeForTraining(messages);
        writer.AppendExample(ids, targets);
    }
}
