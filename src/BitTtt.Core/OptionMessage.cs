using System.Globalization;

namespace BitTtt;

/// <summary>A reference to an option inside an error message, to be spelled as the reader typed it (see <see cref="OptionMessage"/>).</summary>
public readonly record struct OptionRef(string Name)
{
    public override string ToString() => Name;
}

/// <summary>
/// Error messages that name options. A library words them with the names its callers set (an ML.NET user set
/// <c>LearningRate</c>) and marks each name as an <see cref="OptionRef"/> in an interpolated string; the text is
/// kept on the exception, so a front end whose users typed other names (the CLI's <c>--lr</c>) prints the same
/// message with its own spelling: <c>OptionMessage.Format(e, flagOf)</c>. The exception types stay the ordinary
/// ones (<see cref="ArgumentOutOfRangeException"/>, <see cref="InvalidOperationException"/>, ...), and a message may
/// name several options ("MinLearningRate must be between 0 and LearningRate"). A rule about one value throws an
/// <see cref="OptionException"/> instead; <see cref="Format(Exception, Func{string, string})"/> spells both.
/// </summary>
public static class OptionMessage
{
    const string Key = "BitTtt.OptionMessage";

    /// <summary>The name <paramref name="option"/>, marked for re-spelling.</summary>
    public static OptionRef Name(string option) => new(option);

    /// <summary>An <see cref="ArgumentOutOfRangeException"/> for <paramref name="option"/> whose message is <paramref name="text"/>.</summary>
    public static ArgumentOutOfRangeException OutOfRange(string option, FormattableString text) =>
        Attach(new ArgumentOutOfRangeException(option, text.ToString(CultureInfo.CurrentCulture)), text);

    /// <summary>Keeps <paramref name="text"/> (the exception's message, with its option names marked) on <paramref name="exception"/>.</summary>
    public static TException Attach<TException>(TException exception, FormattableString text) where TException : Exception
    {
        ArgumentNullException.ThrowIfNull(exception);
        exception.Data[Key] = text;
        return exception;
    }

    /// <summary>
    /// The message of <paramref name="exception"/> with every marked option name passed through
    /// <paramref name="spell"/>; for other exceptions their message. Either way without the
    /// <c>" (Parameter 'name')"</c> that <see cref="ArgumentException"/> appends, a C# name that means nothing to a user.
    /// </summary>
    public static string Format(Exception exception, Func<string, string> spell)
    {
        ArgumentNullException.ThrowIfNull(exception);
        ArgumentNullException.ThrowIfNull(spell);
        if (exception.Data[Key] is FormattableString text) return Format(text, spell);
        // An OptionException a door has already named (Validate(NameStyle.CliFlag)) keeps that name.
        if (exception is OptionException { } option && option.Name == option.Option) return option.Naming(spell(option.Option)).Message;
        return exception is ArgumentException { ParamName: { } name }
            ? exception.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal)
            : exception.Message;
    }

    /// <summary><paramref name="text"/> with its <see cref="OptionRef"/>s (also inside nested interpolated strings) spelled by <paramref name="spell"/>.</summary>
    public static string Format(FormattableString text, Func<string, string> spell)
    {
        ArgumentNullException.ThrowIfNull(text);
        object?[] arguments = text.GetArguments().Select(a => a switch
        {
            OptionRef n => spell(n.Name),
            FormattableString nested => Format(nested, spell),
            _ => a,
        }).ToArray();
        return string.Format(CultureInfo.CurrentCulture, text.Format, arguments);
    }
}
