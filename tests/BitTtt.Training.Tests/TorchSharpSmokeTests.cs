using TorchSharp;
using static TorchSharp.torch;

namespace BitTtt.Training.Tests;

[TestClass]
public sealed class TorchSharpSmokeTests
{
    // Proves the native libtorch backend loads on this machine (the GLIBCXX fix in the build) and that
    // autograd runs: d/dx sum(x @ x) for x = ones(3,3) is 6 everywhere.
    [TestMethod]
    public void MatmulAndBackwardRun()
    {
        using var x = ones(3, 3, requires_grad: true);
        using var y = x.matmul(x).sum();
        y.backward();
        using var grad = x.grad!;
        CollectionAssert.AreEqual(Enumerable.Repeat(6f, 9).ToArray(), grad.data<float>().ToArray());
    }
}
