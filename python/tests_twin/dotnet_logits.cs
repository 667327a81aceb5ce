#!/usr/bin/env dotnet
// The logits of a model file as .NET applications load it, for the twin tests: Llama.LoadAuto (the inference
// library) with the fp32 LM head and with the default int8 one, and ML.NET's LoadBitt (default options), token by
// token from a zero TTT state. Prints
//   {"load_auto_fp32": [[V floats], ...], "load_auto": [[V floats], ...], "load_bitt": [[V floats], ...]}
// usage: dotnet run python/tests_twin/dotnet_logits.cs -- MODEL.bitt 1,2,3
#:project ../../src/BitTtt.MLNet/BitTtt.MLNet.csproj
#:property PublishAot=false
using System.Globalization;
using System.Text.Json;
using BitTtt.Inference;
using BitTtt.MLNet;
using Microsoft.ML;

var ids = args[1].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();

static float[][] Rows(Llama llama, int[] ids)
{
    using var session = llama.CreateSession();
    return ids.Select(id => session.Logits([id])).ToArray();
}

using var fp32 = Llama.LoadAuto(args[0], new InferenceOptions { Int8LmHead = false });
using var auto = Llama.LoadAuto(args[0]);
using var transformer = new MLContext(seed: 1).Model.LoadBitt(args[0]);
var result = new Dictionary<string, float[][]>
{
    ["load_auto_fp32"] = Rows(fp32, ids), ["load_auto"] = Rows(auto, ids), ["load_bitt"] = Rows(transformer.Model, ids),
};
Console.WriteLine(JsonSerializer.Serialize(result));
