using System.Diagnostics;
using System.Text.Json.Nodes;
using StackExchange.Redis;
using static BitTtt.Orleans.Tests.ClusterChatTests;

namespace BitTtt.Orleans.Tests;

/// <summary>
/// Three copies of samples/BusinessApp in cluster mode and a real redis-server, each its own process on 127.0.0.1, through
/// the faults a deployment meets: kill -9 of the copy holding a conversation (the next turn through another copy
/// continues from the last acknowledged turn, with the text of an uninterrupted single-process conversation), Redis
/// stopped (503 problems, no crash, and recovery when it returns) and SIGTERM (the silo leaves the cluster and its
/// conversations go on elsewhere). Every copy's output goes to a log file, printed when the test fails.
/// </summary>
[TestClass]
public sealed class ClusterProcessTests
{
    public TestContext TestContext { get; set; } = null!;

    /// <summary>
    /// Failure detection for the test: a silo that misses two 2-second probes is suspected (Orleans' defaults are 3 x 5 s,
    /// meant for busier networks); short enough for a quick test, long enough for a loaded 2-core machine.
    /// </summary>
    static readonly string[] FastDetection =
    [
        "--Orleans:Membership:ProbeTimeout=00:00:02", "--Orleans:Membership:NumMissedProbesLimit=2",
        "--BitLlama:FailoverTimeout=00:01:30", "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Orleans=Warning",
        // what the test reads in the logs: the address Kestrel listens on, and the silo's graceful stop
        "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information", "--Logging:LogLevel:Orleans.Hosting.SiloHostedService=Information",
    ];

    [TestMethod]
    [Timeout(240_000, CooperativeCancellation = true)]
    public async Task ConversationsSurviveKillRedisOutageAndSigterm()
    {
        string model = TestModels.Delta;
        var (reference, _) = await ReferenceAsync(model, 5);
        string logs = Directory.CreateTempSubdirectory("bitttt-cluster-logs-").FullName;
        await using var redis = await RedisServer.StartAsync();
        // The timeouts in the endpoint keep a command to a stopped Redis from waiting the default 5 s.
        string endpoint = $"{redis.Endpoint},asyncTimeout=2000,syncTimeout=2000";
        var apps = new[] { "a", "b", "c" }.Select(n => AppProcess.Start(n, model, endpoint, logs, FastDetection)).ToArray();
        var (a, b, c) = (apps[0], apps[1], apps[2]);
        var clock = Stopwatch.StartNew();
        string step = "start";
        try
        {
            await Task.WhenAll(apps.Select(p => p.WaitReadyAsync(TimeSpan.FromSeconds(90))));
            Report($"three copies ready in {clock.Elapsed.TotalSeconds:F1} s");

            step = "turn 1 through a (the conversation is placed on a)";
            var (status, body) = await a.ChatAsync(null, Turns[0]);
            Assert.AreEqual(200, status, body.ToJsonString());
            string x = (string)body["conversationId"]!;
            Assert.AreEqual(reference[0], (string)body["text"]!);
            Assert.AreEqual(1, (int)(await a.ModelDataAsync())["liveConversations"]!);

            step = "turn 2 through b, streamed from the grain on a";
            var streamed = await b.StreamAsync(x, Turns[1]);
            Assert.AreEqual(200, streamed.Status);
            Assert.AreEqual(reference[1], streamed.Text);
            Assert.AreEqual(x, (string)streamed.Final!["conversationId"]!);

            step = "a second conversation, on c";
            (status, body) = await c.ChatAsync(null, Turns[0]);
            Assert.AreEqual(200, status, body.ToJsonString());
            string y = (string)body["conversationId"]!;

            step = "kill -9 a, then turn 3 through b";
            a.Kill();
            var failover = Stopwatch.StartNew();
            (status, body) = await b.ChatAsync(x, Turns[2]);
            Assert.AreEqual(200, status, body.ToJsonString());
            Assert.AreEqual(reference[2], (string)body["text"]!, "the turn after the kill continues from the last acknowledged turn");
            Report($"kill -9 of the copy holding the conversation: the next turn answered after {failover.Elapsed.TotalSeconds:F1} s");
            (status, body) = await c.ChatAsync(y, Turns[1]);
            Assert.AreEqual(200, status, body.ToJsonString());
            Assert.AreEqual(reference[1], (string)body["text"]!, "a conversation on a surviving copy goes on");

            step = "Redis stopped: turn 4 through c";
            await redis.StopAsync();
            (status, body) = await c.ChatAsync(x, Turns[3]);
            Assert.AreEqual(503, status, body.ToJsonString());
            Assert.AreEqual("conversationId", (string)body["field"]!);
            (status, body) = await b.ChatAsync(null, Turns[0]);
            Assert.AreEqual(503, status, "a new conversation cannot be stored either: " + body.ToJsonString());
            Assert.AreEqual(200, (await b.HealthAsync("/health")).Status, "the copies keep running");
            var notReady = await b.HealthAsync("/health/ready");
            Assert.AreEqual(503, notReady.Status, "not ready while the storage is down: " + notReady.Body.ToJsonString());
            Assert.AreEqual("Unhealthy", (string)notReady.Body["checks"]!["conversation-storage"]!["status"]!);
            Assert.AreEqual("Healthy", (string)notReady.Body["checks"]!["model"]!["status"]!);

            step = "Redis back: turn 4 again through c";
            await redis.StartAgainAsync();
            var recovery = Stopwatch.StartNew();
            do
            {
                (status, body) = await c.ChatAsync(x, Turns[3]);
                if (status == 503) await Task.Delay(250);
            } while (status == 503 && recovery.Elapsed < TimeSpan.FromSeconds(60));
            Assert.AreEqual(200, status, body.ToJsonString());
            Assert.AreEqual(reference[3], (string)body["text"]!, "the refused turn left nothing in the conversation");
            Report($"Redis restarted: turns served again after {recovery.Elapsed.TotalSeconds:F1} s");
            Assert.IsFalse(b.HasExited || c.HasExited, "no copy crashed during the outage");
            // Where x lives now is Orleans' choice (c activates it unless c's directory cache still sent the retry to b):
            // what holds is that the two survivors hold the two conversations once each, y still on c.
            int onB = (int)(await b.ModelDataAsync())["liveConversations"]!, onC = (int)(await c.ModelDataAsync())["liveConversations"]!;
            Assert.AreEqual(2, onB + onC, $"the two conversations are held once each by b and c (b {onB}, c {onC})");
            Assert.IsGreaterThanOrEqualTo(1, onC, "y stays on c");

            step = "SIGTERM c, then turn 5 through b";
            c.Terminate();
            Assert.IsTrue(await c.WaitForExitAsync(TimeSpan.FromSeconds(60)), "c did not exit within 60 s of SIGTERM");
            Assert.AreEqual(0, c.ExitCode);
            StringAssert.Contains(c.Log(), "Orleans Silo stopped", "c's silo stopped gracefully");
            Assert.AreEqual(6, await MembershipStatusAsync(redis, c.SiloPort), "c recorded itself as Dead (left the cluster) in the membership table");
            var handover = Stopwatch.StartNew();
            (status, body) = await b.ChatAsync(x, Turns[4]);
            Assert.AreEqual(200, status, body.ToJsonString());
            Assert.AreEqual(reference[4], (string)body["text"]!);
            (status, body) = await b.ChatAsync(y, Turns[2]);
            Assert.AreEqual(200, status, body.ToJsonString());
            Assert.AreEqual(reference[2], (string)body["text"]!);
            Report($"SIGTERM: the conversations went on through b after {handover.Elapsed.TotalSeconds:F1} s; whole scenario {clock.Elapsed.TotalSeconds:F0} s");
        }
        catch (Exception e) when (e is not OperationCanceledException || !TestContext.CancellationToken.IsCancellationRequested)
        {
            foreach (var app in apps) Report($"===== {app.Name} (pid {app.Pid}) log =====\n{app.Log()}");
            Report($"===== redis log =====\n{(File.Exists(redis.LogPath) ? File.ReadAllText(redis.LogPath) : "")}");
            throw new AssertFailedException($"step '{step}': {e.Message}", e);
        }
        finally
        {
            foreach (var app in apps) await app.DisposeAsync();
            Directory.Delete(logs, recursive: true);
        }
    }

    /// <summary>The status Orleans' Redis membership table holds for the silo on <paramref name="siloPort"/> (6 = Dead, 3 = Active).</summary>
    static async Task<int> MembershipStatusAsync(RedisServer redis, int siloPort)
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        var entries = await connection.GetDatabase().HashGetAllAsync("bitllama/members/bitllama");
        var statuses = entries.Where(e => e.Name.ToString().StartsWith($"S127.0.0.1:{siloPort}:", StringComparison.Ordinal))
            .Select(e => (int)JsonNode.Parse(e.Value.ToString())!["Status"]!).ToList();
        Assert.HasCount(1, statuses, $"one membership entry for the silo on port {siloPort}: {string.Join(", ", entries.Select(e => e.Name))}");
        return statuses[0];
    }

    void Report(string line) => TestContext.WriteLine(line);
}
