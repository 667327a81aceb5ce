#!/usr/bin/env dotnet
// # 02 · Generate text, and keep what a session learned in a memory file
//
//     dotnet run samples/notebooks/02-generate-and-memory.cs              # uses the model of 01-train.cs
//     dotnet run samples/notebooks/02-generate-and-memory.cs -- --tiny    # small outputs (what CI runs)
//     dotnet run samples/notebooks/02-generate-and-memory.cs -- --output DIR # the folder 01 wrote to
//
// Generation runs on the managed CPU engine (BitTtt.Inference): packed ternary weights and SIMD kernels,
// no TorchSharp and no libtorch. That is why this file references only BitTtt.Inference. If the model
// is missing, it runs 01-train.cs with --tiny first (a child `dotnet run`), so it also works on its own.
//
// A BitLlama has no attention and no KV cache: each layer's "TTT memory" is a small matrix that is updated
// by a gradient-like step on every token it reads (docs/model.md §3). A session is that memory plus the
// position. It costs the same few kilobytes after ten tokens or ten million, and it can be saved to a
// file and loaded again: a conversation, a customer's documents or a book can be "read" once and reused.
#:project ../../src/BitTtt.Inference/BitTtt.Inference.csproj
#:property PublishAot=false

using System.Diagnostics;
using System.Reflection;
using BitTtt.Inference;

// ## 1. Find (or make) the model
string here = (string)AppContext.GetData("EntryPointFileDirectoryPath")!;
bool tiny = args.Contains("--tiny") || Environment.GetEnvironmentVariable("BITLLAMA_SAMPLES_TINY") == "1";
int outAt = Array.IndexOf(args, "--output");
string output = Path.GetFullPath(outAt >= 0 && outAt + 1 < args.Length ? args[outAt + 1] : Path.Combine(here, "output"));
string modelPath = Path.Combine(output, "model.bitt");
if (!File.Exists(modelPath))
{
    Console.WriteLine($"{modelPath} is missing: training a tiny one with 01-train.cs --tiny first");
    // The same configuration as this run (`dotnet run -c Release ...` in CI), so a build already made is reused.
    string configuration = Assembly.GetEntryAssembly()?
        .GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
    using var child = Process.Start("dotnet", ["run", "-c", configuration, Path.Combine(here, "01-train.cs"), "--", "--tiny", "--output", output]);
    child.WaitForExit();
    if (child.ExitCode != 0) throw new InvalidOperationException($"01-train.cs failed with exit code {child.ExitCode}");
}

// ## 2. Load and generate
// LoadAuto reads a .bitt file (or a model directory with config.json, tokenizer.json, model.safetensors).
// SamplingOptions: temperature 0 is greedy; a fixed Seed gives the same text every run.
using var llama = Llama.LoadAuto(modelPath);
Console.WriteLine($"model: {llama.Config.HiddenDim} hidden, {llama.Config.NumLayers} layers, {llama.Config.VocabSize} tokens, TTT {BitTtt.BitLlamaConfig.TttTypeName(llama.Config.TttType)}");
int maxTokens = tiny ? 12 : 60;
var sampling = new SamplingOptions { MaxTokens = maxTokens, Temperature = 0.7f, Seed = 1 };
string prompt = "Call me Ishmael.";
Console.WriteLine($"complete:  {prompt}|{llama.Complete(prompt, sampling)}");

// Streaming hands out text as it is generated (whole UTF-8 characters only, never half a character).
Console.Write($"streaming: {prompt}|");
await foreach (string piece in llama.CompleteStreamingAsync(prompt, sampling))
    Console.Write(piece);
Console.WriteLine();

// ## 3. A session remembers
// Llama.Complete starts from an empty memory each time. A session keeps its memory between calls:
// Learn reads text into the memory without generating, Generate continues after everything read so far.
string passage = "The Pequod sailed from Nantucket on a cold Christmas day, with Captain Ahab and a crew of thirty. ";
using var session = llama.CreateSession();
session.Learn(passage);
Console.WriteLine($"session: read {session.Position} tokens");
var greedy = SamplingOptions.Greedy(maxTokens);
LlamaCompletion afterPassage = session.Generate("The Pequod", greedy);
Console.WriteLine($"after the passage: The Pequod|{afterPassage.Text}  ({afterPassage.PromptTokens} prompt + {afterPassage.CompletionTokens} new tokens, {afterPassage.FinishReason})");

// ## 4. Save the memory, then load it into a fresh session
// SaveMemory writes the TTT state and the position to a .bttm file (docs/format.md §6), atomically.
// LoadMemory checks that the file belongs to this very model (a fingerprint of config and weights) and
// puts the session exactly where the saved one was, so greedy generation continues identically.
string memoryPath = Path.Combine(output, "pequod.bttm");
using (var reader = llama.CreateSession())
{
    reader.Learn(passage);
    reader.SaveMemory(memoryPath);
}
Console.WriteLine($"memory: {memoryPath} ({new FileInfo(memoryPath).Length:N0} bytes, the same size for any length of text)");

using var restored = llama.CreateSession();
restored.LoadMemory(memoryPath);
long loadedAt = restored.Position;
string fromFile = restored.Generate("The Pequod", greedy).Text;
Console.WriteLine($"loaded at position {loadedAt}: The Pequod|{fromFile}");

// A fresh session that never read the passage generally continues differently: the memory is what it read.
using var fresh = llama.CreateSession();
string withoutMemory = fresh.Generate("The Pequod", greedy).Text;
Console.WriteLine($"without the memory: The Pequod|{withoutMemory}");

// The point of the memory file: loading it is the same as having read the passage. Greedy decoding makes
// that checkable, so this sample fails (and CI with it) if the restored session continues differently.
if (fromFile != afterPassage.Text)
{
    Console.Error.WriteLine($"02-generate-and-memory: the restored memory continued with \"{fromFile}\", the live session with \"{afterPassage.Text}\"");
    return 1;
}
Console.WriteLine("the restored session continues exactly as the one that read the passage");
return 0;
