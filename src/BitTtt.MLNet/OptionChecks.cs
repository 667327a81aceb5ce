namespace BitTtt.MLNet;

/// <summary>Option checks shared by the options classes of both BitTtt.MLNet packages, in one wording.</summary>
internal static class OptionChecks
{
    public static void Check(bool ok, string option, string message)
    {
        if (!ok) throw new ArgumentOutOfRangeException(option, $"{option} {message}.");
    }

    public static void Name(string? name, string option)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException($"{option} must name a column, got '{name}'.", option);
    }
}
