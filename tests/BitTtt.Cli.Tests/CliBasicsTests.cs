namespace BitTtt.Cli.Tests;

[TestClass]
public sealed class CliBasicsTests
{
    [TestMethod]
    public void UnknownCommandFailsWithNonZeroExit()
    {
        var r = CliRunner.Run("no-such-command");
        Assert.AreNotEqual(0, r.ExitCode);
    }

    [TestMethod]
    public void HelpListsTheTool()
    {
        var r = CliRunner.Run("--help");
        Assert.AreEqual(0, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdOut, "bit-llama");
    }
}
