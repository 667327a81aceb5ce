namespace BitTtt;

/// <summary>
/// A model, config, tokenizer, checkpoint or memory file that does not match the format it claims.
/// The message names the file, the field or tensor, what was found and what was expected.
/// </summary>
public class BitLlamaFormatException : IOException
{
    public BitLlamaFormatException(string message) : base(message) { }

    public BitLlamaFormatException(string message, Exception inner) : base(message, inner) { }

    /// <summary>The file the problem was found in, when there is one.</summary>
    public string? FilePath { get; init; }

    /// <summary>Builds "<c>file: message</c>" with <see cref="FilePath"/> set.</summary>
    public static BitLlamaFormatException In(string? file, string message, Exception? inner = null)
    {
        string text = file is null ? message : $"{Path.GetFileName(file)}: {message}";
        return inner is null
            ? new BitLlamaFormatException(text) { FilePath = file }
            : new BitLlamaFormatException(text, inner) { FilePath = file };
    }
}
