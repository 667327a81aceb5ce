using System.CommandLine;
using System.Reflection;

namespace BitTtt.Cli;

/// <summary>A top-level <c>bit-llama</c> subcommand.</summary>
internal interface ICliCommand
{
    /// <summary>Position in <c>--help</c>; lower comes first.</summary>
    int Order { get; }

    Command Create();
}

internal static class CliCommands
{
    public static IEnumerable<ICliCommand> All() =>
        typeof(CliCommands).Assembly.GetTypes()
            .Where(t => typeof(ICliCommand).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
            .Select(t => (ICliCommand)Activator.CreateInstance(t)!)
            .OrderBy(c => c.Order);

    /// <summary>
    /// Runs a command body and maps failures to one readable line on stderr and an exit code:
    /// 1 = bad input (file, format, argument), 2 = environment (I/O, missing backend), 130 = cancelled.
    /// Option names in a library's message are spelled by <paramref name="spell"/> (a command's flag table: the
    /// library says <c>LearningRate</c>, the user typed <c>--lr</c>; see <see cref="OptionMessage"/>).
    /// Unexpected exceptions keep their stack trace, since they are bugs.
    /// </summary>
    public static async Task<int> RunAsync(Func<CancellationToken, Task<int>> body, CancellationToken cancellationToken, Func<string, string>? spell = null)
    {
        spell ??= name => name;
        try
        {
            return await body(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("bit-llama: cancelled");
            return 130;
        }
        catch (Exception e) when (e is BitLlamaFormatException or ArgumentException or FormatException or FileNotFoundException or DirectoryNotFoundException or InvalidOperationException)
        {
            Console.Error.WriteLine($"bit-llama: error: {CliText.Escape(OptionMessage.Format(e, spell))}");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            Console.Error.WriteLine($"bit-llama: error: {CliText.Escape(OptionMessage.Format(e, spell))}");
            return 2;
        }
    }

    /// <summary>Synchronous convenience overload of <see cref="RunAsync"/>.</summary>
    public static Task<int> Run(Func<int> body, Func<string, string>? spell = null) =>
        RunAsync(_ => Task.FromResult(body()), CancellationToken.None, spell);

    /// <summary>Finds the parsed value of an option by reference; helper for SetAction bodies.</summary>
    public static T Get<T>(this ParseResult result, Option<T> option) => result.GetValue(option)!;
}
