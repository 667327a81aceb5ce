namespace BitTtt;

/// <summary>How a door spells the name of an option: as a C# property, a command-line flag, a web JSON field, or in snake case (Python keyword, C struct field, stored config field).</summary>
public enum NameStyle
{
    /// <summary><c>MaxTokens</c>: C# code, ML.NET options, <c>IConfiguration</c> keys.</summary>
    Property,
    /// <summary><c>--max-tokens</c>: the <c>bit-llama</c> command.</summary>
    CliFlag,
    /// <summary><c>maxTokens</c>: JSON bodies of the web API (<c>JsonSerializerOptions.Web</c>).</summary>
    Json,
    /// <summary><c>max_tokens</c>: Python keywords, C struct fields, fields stored in a model's config.</summary>
    Snake,
}

/// <summary>
/// One option of a settings type and its name in every <see cref="NameStyle"/>. A spelling is derived from the
/// property name (MaxTokens: <c>--max-tokens</c>, <c>maxTokens</c>, <c>max_tokens</c>) unless given here, for the
/// few doors whose established name differs.
/// </summary>
public sealed record OptionName(string Property, string? CliFlag = null, string? Json = null, string? Snake = null)
{
    /// <summary>The option's name as <paramref name="style"/> spells it.</summary>
    public string In(NameStyle style) => style switch
    {
        NameStyle.Property => Property,
        NameStyle.CliFlag => CliFlag ?? "--" + Words('-'),
        NameStyle.Json => Json ?? char.ToLowerInvariant(Property[0]) + Property[1..],
        NameStyle.Snake => Snake ?? Words('_'),
        _ => throw new ArgumentOutOfRangeException(nameof(style), style, "unknown name style"),
    };

    /// <summary>The property's words in lower case joined by <paramref name="separator"/>: TopK → top-k, RepetitionPenalty → repetition_penalty.</summary>
    string Words(char separator)
    {
        var text = new System.Text.StringBuilder(Property.Length + 4);
        for (int i = 0; i < Property.Length; i++)
        {
            if (i > 0 && char.IsUpper(Property[i])) text.Append(separator);
            text.Append(char.ToLowerInvariant(Property[i]));
        }
        return text.ToString();
    }
}

/// <summary>
/// A setting outside its rule. <see cref="Option"/> is the property the rule belongs to and <see cref="Problem"/> what is
/// wrong with its value; the message reads "<c>{name} {problem}</c>" where the name is the property, or the name the
/// caller typed once a door has re-spelled it with <see cref="Naming"/> (a flag, a JSON field, a Python keyword).
/// </summary>
public sealed class OptionException : ArgumentOutOfRangeException
{
    public OptionException(string option, string problem) : this(option, problem, option, null) { }

    OptionException(string option, string problem, string name, Exception? inner) : base($"{name} {problem}", inner)
    {
        Option = option;
        Problem = problem;
        Name = name;
    }

    /// <summary>The property the broken rule belongs to (e.g. <c>TopP</c>).</summary>
    public string Option { get; }

    /// <summary>What is wrong, without the option's name (e.g. <c>must be in (0, 1], got 2</c>).</summary>
    public string Problem { get; }

    /// <summary>The option as the message names it: the property, or the caller's spelling.</summary>
    public string Name { get; }

    /// <summary>The message names the option only once: no " (Parameter '...')" suffix.</summary>
    public override string Message => $"{Name} {Problem}";

    public override string? ParamName => Name;

    /// <summary>The same problem, naming the option <paramref name="name"/> (the flag, field or keyword the caller typed).</summary>
    public OptionException Naming(string name) => new(Option, Problem, name, this);
}
