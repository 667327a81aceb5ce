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
    /// Unexpected exceptions keep their stack trace, since they are bugs.
    /// </summary>
    public static async Task<int> RunAsync(Func<CancellationToken, Task<int>> body, CancellationToken cancellationToken)
    {
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
            // ArgumentException appends " (Parameter 'name')", a C# parameter name that means nothing to a CLI user.
            string message = e is ArgumentException { ParamName: { } name } ? e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message;
            Console.Error.WriteLine($"bit-llama: error: {CliText.Escape(message)}");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            Console.Error.WriteLine($"bit-llama: error: {CliText.Escape(e.Message)}");
            return 2;
        }
    }

    /// <summary>Synchronous convenience overload of <see cref="RunAsync"/>.</summary>
    public static Task<int> Run(Func<int> body) => RunAsync(_ => Task.FromResult(body()), CancellationToken.None);

    /// <summary>Finds the parsed value of an option by reference; helper for SetAction bodies.</summary>
    public static T Get<T>(this ParseResult result, Option<T> option) => result.GetValue(option)!;
}
