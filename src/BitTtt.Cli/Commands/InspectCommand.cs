using System.CommandLine;
using System.Text.Json;
using BitTtt.Formats;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace BitTtt.Cli.Commands;

/// <summary><c>bit-llama inspect PATH</c>: config and tensor table of a .bitt file, a model directory or a bare .safetensors.</summary>
internal sealed class InspectCommand : ICliCommand
{
    public int Order => 60;

    public Command Create()
    {
        var path = new Argument<string>("path") { Description = "A .bitt file, a model directory (config.json + tokenizer.json + model.safetensors) or a .safetensors file." };
        var command = new Command("inspect", "Show a model's config and tensors (name, dtype, shape, bytes) and check the file against the format.") { path };
        command.SetAction((parseResult, ct) => CliCommands.RunAsync(_ => Task.FromResult(Run(parseResult.GetValue(path)!)), ct));
        return command;
    }

    static int Run(string path)
    {
        var console = CreateConsole();
        if (Directory.Exists(path) || IsBitt(path))
        {
            using var package = ModelPackage.Open(path);
            console.MarkupLineInterpolated($"[bold]{package.Kind switch { ModelPackageKind.Bitt => ".bitt file", _ => "model directory" }}[/] {CliText.Escape(path)}");
            console.Write(ConfigTable(package.Config));
            console.WriteLine($"ttt: {DescribeTtt(package.Config)}");
            console.WriteLine($"tokenizer: {DescribeTokenizer(package.TokenizerJson)}");
            var ternary = BitLlamaWeights.Expected(package.Config).Where(e => e.IsTernary).Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
            WriteTensors(console, package.Weights, ternary);
        }
        else
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such .bitt file, model directory or .safetensors file", path);
            using var reader = SafeTensorsReader.Open(path);
            console.MarkupLineInterpolated($"[bold]safetensors file[/] {CliText.Escape(path)} (no config)");
            WriteTensors(console, reader, null);
        }
        return 0;
    }

    static IAnsiConsole CreateConsole()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        // Piped output has no terminal width; keep long tensor names on one line.
        if (Console.IsOutputRedirected) console.Profile.Width = 160;
        return console;
    }

    // A file named *.bitt goes to the .bitt reader even when its magic is wrong, so the error names the
    // magic instead of misreading the first bytes as a safetensors header length.
    static bool IsBitt(string path)
    {
        if (!File.Exists(path)) return false;
        return path.EndsWith(".bitt", StringComparison.OrdinalIgnoreCase) || ModelPackage.IsBitt(path);
    }

    static Table ConfigTable(BitLlamaConfig config)
    {
        var table = new Table().Title("config").AddColumn("field").AddColumn("value");
        foreach (var (key, value) in config.ToJsonObject())
            table.AddRow(new Text(CliText.Escape(key)), new Text(CliText.Escape(value?.ToJsonString() ?? "null")));
        return table;
    }

    /// <summary>The TTT layer in one line: its type and the fields that apply to it (docs/model.md §1, §3a/§3b).</summary>
    internal static string DescribeTtt(BitLlamaConfig c) => c.TttType == TttType.Delta
        ? $"delta (docs/model.md §3b): {c.TttHeads} heads x {c.TttHeadDim} (F = {c.TttInnerDim}), conv kernel {c.TttConv}{(c.TttConv == 0 ? " (no convolution)" : "")}, " +
          $"beta = {c.InnerLr:R} * sigmoid(beta_proj(a)); ttt_chunk {c.TttChunk} is a training block size only"
        : $"reconstruct (docs/model.md §3a): inner width d = {c.TttDim}, ttt_chunk {c.TttChunk}, inner_lr {c.InnerLr:R}";

    /// <summary>A one-line summary; the tokenizer itself is parsed by BitTtt.Tokenization, not here.</summary>
    static string DescribeTokenizer(string? json)
    {
        if (json is null) return "none";
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        string type = root.TryGetProperty("model", out var model) && model.ValueKind == JsonValueKind.Object
            && model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? CliText.Escape(t.GetString()!) : "unknown type";
        int vocab = model.ValueKind == JsonValueKind.Object && model.TryGetProperty("vocab", out var v) && v.ValueKind == JsonValueKind.Object
            ? v.EnumerateObject().Count() : 0;
        int added = root.TryGetProperty("added_tokens", out var a) && a.ValueKind == JsonValueKind.Array ? a.GetArrayLength() : 0;
        return $"{type}, {vocab} vocab entries, {added} added tokens, {json.Length} chars of JSON";
    }

    static void WriteTensors(IAnsiConsole console, SafeTensorsReader reader, HashSet<string>? ternary)
    {
        foreach (var (key, value) in reader.Metadata)
            console.WriteLine($"metadata {CliText.Escape(key)} = {CliText.Escape(value)}");
        var table = new Table().Title("tensors").AddColumn("name").AddColumn("dtype").AddColumn("shape")
            .AddColumn(new TableColumn("elements").RightAligned()).AddColumn(new TableColumn("bytes").RightAligned());
        if (ternary is not null) table.AddColumn("precision");
        long elements = 0, bytes = 0, ternaryElements = 0;
        foreach (var t in reader.Tensors)
        {
            bool isTernary = ternary?.Contains(t.Name) ?? false;
            var cells = new List<IRenderable>
            {
                new Text(CliText.Escape(t.Name)), new Text(t.DType.ToString()), new Text("[" + string.Join(", ", t.Shape) + "]"),
                new Text(t.ElementCount.ToString("N0")), new Text(t.ByteLength.ToString("N0")),
            };
            if (ternary is not null) cells.Add(new Text(isTernary ? "ternary" : "full"));
            table.AddRow(cells);
            elements += t.ElementCount;
            bytes += t.ByteLength;
            if (isTernary) ternaryElements += t.ElementCount;
        }
        console.Write(table);
        console.WriteLine($"total: {reader.Tensors.Count} tensors, {elements:N0} parameters, {bytes:N0} bytes ({bytes / 1048576.0:F2} MiB)");
        if (ternary is not null)
            console.WriteLine($"ternary (BitLinear): {ternaryElements:N0} parameters; full precision: {elements - ternaryElements:N0}");
    }
}
