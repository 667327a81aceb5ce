using System.CommandLine;
using BitTtt.Cli;

// Each subcommand lives in its own file under Commands/ and implements ICliCommand; they are found by
// reflection so adding a command never touches this file.
var root = new RootCommand("bit-llama: train, run and inspect BitLlama models (BitNet b1.58 + test-time training).");
foreach (var command in CliCommands.All())
    root.Subcommands.Add(command.Create());
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
