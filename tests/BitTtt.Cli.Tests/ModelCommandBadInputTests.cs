namespace BitTtt.Cli.Tests;

/// <summary>Bad arguments to the commands that read a model (logits, eval) end with one line; a random model
/// (nothing trains) is enough for that.</summary>
[TestClass]
public sealed class ModelCommandBadInputTests
{
    static string _dir = null!;
    static string _model = null!;

    [ClassInitialize]
    public static void WriteModel(TestContext _)
    {
        _dir = Directory.CreateTempSubdirectory("bitttt-cli-bad-input-").FullName;
        _model = TinyModels.WriteBitt(Path.Combine(_dir, "tiny.bitt"));
    }

    [ClassCleanup]
    public static void Cleanup() => Directory.Delete(_dir, recursive: true);

    [TestMethod]
    public void ALogitsTokenOutsideTheVocabularyIsNamedWithItsPosition()
    {
        int vocab = RandomModel.DefaultVocabSize;
        var r = CliRunner.Run("logits", _model, "--tokens", $"1,{vocab}");
        Assert.AreEqual(1, r.ExitCode, r.StdErr);
        StringAssert.Contains(r.StdErr, $"token {vocab} at position 1");
        Assert.AreEqual(1, r.StdErr.Trim().Split('\n').Length, r.StdErr);
    }

    [TestMethod]
    public void CudaForTheManagedEngineIsRefused()
    {
        var r = CliRunner.Run("logits", _model, "--tokens", "1", "--device", "cuda");
        Assert.AreEqual(1, r.ExitCode);
        Assert.AreEqual("bit-llama: error: --device cuda applies to --engine torch; the managed engine runs on the CPU", r.StdErr.Trim());
    }

    [TestMethod]
    public void CudaForTheTorchEngineOnTheCpuBuildSaysHowToRebuild()
    {
        var r = CliRunner.Run("logits", _model, "--tokens", "1", "--engine", "torch", "--device", "cuda");
        Assert.AreEqual(1, r.ExitCode);
        StringAssert.Contains(r.StdErr, "rebuild with -p:TorchBackend=cuda-linux");
        Assert.AreEqual(1, r.StdErr.Trim().Split('\n').Length, r.StdErr);
    }

    [TestMethod]
    public void EvalOfABinaryFileSaysWhereItsFirstNulByteIs()
    {
        string binary = Path.Combine(_dir, "binary.dat");
        File.WriteAllBytes(binary, [0x7F, 0x45, 0x4C, 0x46, 0, 1, 2]);
        var r = CliRunner.Run("eval", _model, "--data", binary);
        Assert.AreEqual(1, r.ExitCode);
        Assert.AreEqual($"bit-llama: error: {binary}: NUL byte at offset 4; expected UTF-8 text, this looks like a binary file", r.StdErr.Trim());
    }

    [TestMethod]
    public void EvalWithAnEmptyTrainingTextNamesTheFlag()
    {
        string held = Path.Combine(_dir, "held.txt"), empty = Path.Combine(_dir, "empty.txt");
        File.WriteAllText(held, string.Concat(Enumerable.Repeat("the whale swam in the sea.\n", 20)));
        File.WriteAllText(empty, "");
        var r = CliRunner.Run("eval", _model, "--data", held, "--train-data", empty);
        Assert.AreEqual(1, r.ExitCode);
        StringAssert.Contains(r.StdErr, $"{empty}: the --train-data file is empty");
    }
}
