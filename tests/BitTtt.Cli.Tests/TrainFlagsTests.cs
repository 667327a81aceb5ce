using System.Reflection;
using BitTtt.Cli.Commands;
using BitTtt.Training;

namespace BitTtt.Cli.Tests;

/// <summary>The training options are defined once (TrainingOptions); <c>bit-llama train</c> must expose every one.</summary>
[TestClass]
public sealed class TrainFlagsTests
{
    [TestMethod]
    public void EveryTrainingOption_HasATrainFlag()
    {
        var command = new TrainCommand().Create();
        var flags = command.Options.Select(o => o.Name).ToHashSet();
        var properties = typeof(TrainingOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).ToList();
        Assert.IsTrue(properties.Count >= 26, $"{properties.Count}");
        foreach (var p in properties)
        {
            Assert.IsTrue(TrainCommand.FlagOf.TryGetValue(p.Name, out string? flag), $"TrainingOptions.{p.Name} has no bit-llama train flag (add one and list it in TrainCommand.FlagOf)");
            Assert.IsTrue(flags.Contains(flag), $"TrainCommand.FlagOf maps {p.Name} to {flag}, but train has no such option");
        }
        Assert.AreEqual(properties.Count, TrainCommand.FlagOf.Count, "FlagOf names a property TrainingOptions no longer has");
    }
}
