// BitLlama behind an ASP.NET Core minimal API: completion, chat (JSON or SSE) with conversation memory.
// Run: dotnet run --project samples/BusinessApp -c Release -- --model PATH --urls http://127.0.0.1:5080
using BitTtt.Samples.BusinessApp;

WebApplication app;
try
{
    app = BusinessApi.Build(args);
}
catch (Exception e) when (e is InvalidOperationException or IOException or BitTtt.BitLlamaFormatException or ArgumentException)
{
    Console.Error.WriteLine($"BusinessApp: {e.Message}");
    return 2;
}
app.Run();
return 0;
