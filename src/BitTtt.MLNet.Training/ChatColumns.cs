using BitTtt.Tokenization;
using BitTtt.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet;

/// <summary>
/// The conversations of an IDataView for <see cref="BitLlamaEstimator"/>: a prompt and a response column (one user
/// message and its reply per row) or a messages column (a conversation as JSON per row, <see cref="ChatData"/>), read
/// through one cursor at a time, never held in memory as a whole. Bad rows are errors naming the column and the row.
/// </summary>
internal sealed class ChatColumns(BitLlamaOptions options)
{
    /// <summary>The column the fitted transformer reads: the messages column, or the prompt column.</summary>
    public string InputColumn => options.MessagesColumnName ?? options.PromptColumnName!;

    /// <summary>Checks the columns exist and hold text, in ML.NET's words.</summary>
    public void Check(SchemaShape schema)
    {
        foreach (string column in Columns) SchemaChecks.Text(schema, column);
    }

    public void Check(DataViewSchema schema)
    {
        foreach (string column in Columns) SchemaChecks.Text(schema, column);
    }

    IEnumerable<string> Columns => options.MessagesColumnName is { } m ? [m] : [options.PromptColumnName!, options.ResponseColumnName!];

    /// <summary>Every conversation, with its row number (blank rows of a messages column are skipped).</summary>
    public IEnumerable<(long Row, IReadOnlyList<ChatTurn> Messages)> Read(IDataView data)
    {
        Check(data.Schema);
        if (options.MessagesColumnName is { } name)
        {
            var column = data.Schema[name];
            using var cursor = data.GetRowCursor([column]);
            var getter = cursor.GetGetter<ReadOnlyMemory<char>>(column);
            ReadOnlyMemory<char> value = default;
            while (cursor.MoveNext())
            {
                getter(ref value);
                if (value.Span.IsWhiteSpace()) continue;
                yield return (cursor.Position, Parse(value.ToString(), name, cursor.Position));
            }
            yield break;
        }
        var prompt = data.Schema[options.PromptColumnName!];
        var response = data.Schema[options.ResponseColumnName!];
        using (var cursor = data.GetRowCursor([prompt, response]))
        {
            var getPrompt = cursor.GetGetter<ReadOnlyMemory<char>>(prompt);
            var getResponse = cursor.GetGetter<ReadOnlyMemory<char>>(response);
            ReadOnlyMemory<char> p = default, r = default;
            while (cursor.MoveNext())
            {
                getPrompt(ref p);
                getResponse(ref r);
                if (p.Span.IsWhiteSpace() && r.Span.IsWhiteSpace()) continue;
                if (r.Span.IsWhiteSpace())
                    throw new ArgumentException($"Column '{response.Name}', row {cursor.Position}: the reply is empty (every row with a prompt needs the reply to learn)");
                yield return (cursor.Position, [new ChatTurn(ChatTurn.User, p.ToString()), new ChatTurn(ChatTurn.Assistant, r.ToString())]);
            }
        }
    }

    static IReadOnlyList<ChatTurn> Parse(string json, string column, long row)
    {
        try { return ChatData.Parse(json, $"Column '{column}', row {row}"); }
        catch (FormatException e) { throw new ArgumentException(e.Message, e); }
    }

    /// <summary>The text of every message (what a tokenizer trained for these conversations learns from).</summary>
    public IEnumerable<string> Texts(IDataView data) => Read(data).SelectMany(c => c.Messages).Select(m => m.Content);

    /// <summary>
    /// Writes the conversations as examples: with a validation set, all of <paramref name="data"/> to
    /// <paramref name="train"/> and the set's to <paramref name="held"/>; else every <paramref name="every"/>-th
    /// conversation to <paramref name="held"/> (when given). Returns the conversations written to each.
    /// </summary>
    public (long Train, long Held) Write(IDataView data, IDataView? validationSet, ChatFormat format, TokenFileWriter train, TokenFileWriter? held, int every)
    {
        long trained = 0, heldOut = 0;
        foreach (var (row, messages) in Read(data))
        {
            bool toHeld = held is not null && validationSet is null && every > 0 && row % every == every - 1;
            ChatCorpus.Append(toHeld ? held! : train, format, messages);
            if (toHeld) heldOut++; else trained++;
        }
        if (validationSet is not null && held is not null)
            foreach (var (_, messages) in Read(validationSet))
            {
                ChatCorpus.Append(held, format, messages);
                heldOut++;
            }
        return (trained, heldOut);
    }
}
