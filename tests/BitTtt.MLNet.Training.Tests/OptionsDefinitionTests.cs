using System.Reflection;
using BitTtt.MLNet;
using BitTtt.Training;

namespace BitTtt.MLNet.Tests;

/// <summary>
/// The training options are defined once, in TrainingOptions: BitLlamaOptions inherits them (same names, types,
/// defaults and checks) and hands every one of them to the trainer. These fail when a training option is added to
/// one side only, or when a copy drops one.
/// </summary>
[TestClass]
public sealed class OptionsDefinitionTests
{
    static List<PropertyInfo> TrainingProperties() =>
        typeof(TrainingOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).ToList();

    [TestMethod]
    public void BitLlamaOptions_HasEveryTrainingOption_WithTheTrainersDefault()
    {
        Assert.IsTrue(typeof(TrainingOptions).IsAssignableFrom(typeof(BitLlamaOptions)));
        var trainer = new TrainingOptions();
        var mlnet = new BitLlamaOptions();
        var properties = TrainingProperties();
        Assert.IsTrue(properties.Count >= 26, $"{properties.Count}");
        foreach (var p in properties)
        {
            var q = typeof(BitLlamaOptions).GetProperty(p.Name, BindingFlags.Public | BindingFlags.Instance);
            Assert.IsNotNull(q, $"BitLlamaOptions lacks the training option {p.Name}");
            Assert.AreEqual(p.PropertyType, q.PropertyType, p.Name);
            Assert.AreEqual(p.GetValue(trainer), q.GetValue(mlnet), $"default of {p.Name}");
        }
        Assert.AreEqual(TttType.Delta, mlnet.TttType);   // new models use the delta layer (docs/model.md §3b)
        Assert.AreEqual(1.0f, mlnet.EffectiveInnerLr);
        Assert.AreEqual(0.1f, new BitLlamaOptions { TttType = TttType.Reconstruct }.EffectiveInnerLr);
        Assert.IsNull(mlnet.Seed, "unset: Fit takes the seed from the MLContext");
        mlnet.Validate();
    }

    [TestMethod]
    public void EveryTrainingOption_ReachesTheTrainer()
    {
        var options = new BitLlamaOptions();
        var changed = new Dictionary<string, object?>();
        foreach (var p in TrainingProperties().Where(p => p.Name is not (nameof(TrainingOptions.Seed) or nameof(TrainingOptions.Device))))
        {
            object? value = Changed(p.PropertyType, p.GetValue(options));
            p.SetValue(options, value);
            changed[p.Name] = value;
        }
        TrainingOptions run = options.ForRun(seed: 123, device: "cuda:1");
        foreach (var (name, value) in changed)
            Assert.AreEqual(value, typeof(TrainingOptions).GetProperty(name)!.GetValue(run), name);
        Assert.AreEqual(123, run.Seed);
        Assert.AreEqual("cuda:1", run.Device);
        Assert.IsNull(options.Seed, "the caller's options are not changed");
        Assert.AreEqual("cpu", options.Device);
    }

    static object? Changed(Type type, object? value) => type switch
    {
        _ when type == typeof(int) => (int)value! + 3,
        _ when type == typeof(int?) => 5,
        _ when type == typeof(double) => (double)value! * 2 + 0.5,
        _ when type == typeof(float?) => 0.25f,
        _ when type == typeof(bool) => !(bool)value!,
        _ when type == typeof(string) => "somewhere",
        _ when type == typeof(TttType) => TttType.Reconstruct,
        _ when type == typeof(TimeSpan?) => TimeSpan.FromMinutes(7),
        _ => throw new AssertFailedException($"no changed value for a {type.Name} option: extend this test"),
    };
}
