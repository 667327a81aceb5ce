using BitTtt.Inference;
using BitTtt.MLNet;
using Microsoft.ML;

// Writes OUT again and again, alternating between two versions, until killed (or once each with "once"):
//   BitTtt.CrashWriter bitt A.bitt B.bitt OUT [once]   ml.Model.SaveAsBitt of the models loaded from A and B
//   BitTtt.CrashWriter memory MODEL OUT [once]         LlamaSession.SaveMemory of two sessions that read different text
// The test that starts it knows both versions' bytes and checks the file on disk is one of them after each SIGKILL.
if (args.Length < 3) return Usage();
bool once = args[^1] == "once";
Action[] writes;
switch (args[0])
{
    case "bitt" when args.Length >= 4:
        var ml = new MLContext(seed: 1);
        var a = ml.Model.LoadBitt(args[1]);
        var b = ml.Model.LoadBitt(args[2]);
        writes = [() => ml.Model.SaveAsBitt(a, args[3]), () => ml.Model.SaveAsBitt(b, args[3])];
        break;
    case "memory":
        var model = Llama.LoadAuto(args[1]);
        var first = model.CreateSession();
        var second = model.CreateSession();
        first.Learn(MemoryTexts.First);
        second.Learn(MemoryTexts.Second);
        writes = [() => first.SaveMemory(args[2]), () => second.SaveMemory(args[2])];
        break;
    default:
        return Usage();
}
do
{
    foreach (var write in writes) write();
}
while (!once);
return 0;

static int Usage()
{
    Console.Error.WriteLine("usage: BitTtt.CrashWriter bitt A.bitt B.bitt OUT [once] | memory MODEL OUT [once]");
    return 2;
}

/// <summary>What the two sessions read (the test makes the same two memories in-process to know their bytes).</summary>
public static class MemoryTexts
{
    public const string First = "the whale swam in the sea.";
    public const string Second = "the sea was calm and white.";
}
