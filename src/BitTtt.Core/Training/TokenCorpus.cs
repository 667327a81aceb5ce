using System.Text;
using BitTtt.Tokenization;

namespace BitTtt.Training;

/// <summary>Turns a text file into training and validation <see cref="TokenFile"/>s, streaming, so the text need not fit in memory.</summary>
public static class TokenCorpus
{
    /// <summary>
    /// The text <c>Encode</c> holds out of <paramref name="textPath"/> for validation: from the first line that
    /// starts at or after <paramref name="validationFraction"/> of the file's bytes from its end, to the end.
    /// </summary>
    public static string HeldOutText(string textPath, double validationFraction = TrainingDefaults.ValidationFraction)
    {
        if (!File.Exists(textPath)) throw new FileNotFoundException($"{textPath}: text not found", textPath);
        using var reader = TrainingText.Open(textPath);
        long splitAt = (long)(reader.BaseStream.Length * (1 - validationFraction)), bytesRead = 0;
        var held = new StringBuilder();
        while (reader.ReadLine() is { } line)
        {
            if (bytesRead >= splitAt && validationFraction > 0) held.Append(line).Append('\n');
            bytesRead += Encoding.UTF8.GetByteCount(line) + 1;
        }
        return held.ToString();
    }

    /// <summary>
    /// Encodes <paramref name="textPath"/> with <paramref name="tokenizer"/>: the last
    /// <paramref name="validationFraction"/> of the file (by bytes, starting at a line boundary) goes to
    /// <paramref name="validationPath"/>, the rest to <paramref name="trainPath"/>. Text is encoded in
    /// blocks of whole lines (~1 MB), so pre-tokenization never splits a word. Both files are written atomically.
    /// </summary>
    public static (long TrainTokens, long ValidationTokens) Encode(
        string textPath, BitLlamaTokenizer tokenizer, string trainPath, string validationPath,
        double validationFraction = TrainingDefaults.ValidationFraction, CancellationToken cancellationToken = default) =>
        Encode([textPath], tokenizer, trainPath, validationPath, validationFraction, cancellationToken);

    /// <summary>
    /// Encodes several text files as one text, in the order given (each file's last line ends with a newline): the
    /// last <paramref name="validationFraction"/> of their bytes taken together, starting at a line boundary, is
    /// the validation part, so with one file this is the overload above.
    /// </summary>
    public static (long TrainTokens, long ValidationTokens) Encode(
        IReadOnlyList<string> textPaths, BitLlamaTokenizer tokenizer, string trainPath, string validationPath,
        double validationFraction = TrainingDefaults.ValidationFraction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(textPaths);
        if (textPaths.Count == 0) throw new ArgumentException("no training text given", nameof(textPaths));
        if (!(validationFraction >= 0 && validationFraction < 1))
            throw new ArgumentException($"validation fraction must be in [0, 1), got {validationFraction}", nameof(validationFraction));
        long length = textPaths.Sum(path => TrainingText.Length(path));   // every file checked before any is read
        long splitAt = (long)(length * (1 - validationFraction));

        using var train = new TokenFileWriter(trainPath);
        using var validation = new TokenFileWriter(validationPath);
        var block = new StringBuilder();
        long bytesRead = 0;
        bool inValidation = false;
        void Flush()
        {
            if (block.Length == 0) return;
            (inValidation ? validation : train).Append(tokenizer.Encode(block.ToString()));
            block.Clear();
        }
        foreach (string path in textPaths)
        {
            using var reader = TrainingText.Open(path);   // one file open at a time, read to its length at open
            while (reader.ReadLine() is { } line)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (!inValidation && bytesRead >= splitAt && validationFraction > 0)
                {
                    Flush();
                    inValidation = true;
                }
                block.Append(line).Append('\n');
                bytesRead += Encoding.UTF8.GetByteCount(line) + 1;
                if (block.Length >= 1 << 20) Flush();
            }
        }
        Flush();
        train.Commit();
        validation.Commit();
        return (train.Count, validation.Count);
    }
}
