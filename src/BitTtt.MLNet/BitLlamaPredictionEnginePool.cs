using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;

namespace BitTtt.MLNet;

/// <summary>
/// Thread-safe predictions for servers. A <see cref="PredictionEngine{TSrc, TDst}"/> is not thread-safe
/// (shared between requests it returns wrong results); this pool lends each caller its own engine.
/// Register one pool as a singleton (e.g. <c>services.AddSingleton(ml.Model.CreatePredictionEnginePool&lt;TextRow, Completion&gt;(model))</c>)
/// and call <see cref="Predict"/> from request handlers. Built on Microsoft.Extensions.ObjectPool, since
/// Microsoft.Extensions.ML's PredictionEnginePool is not available.
/// </summary>
public sealed class BitLlamaPredictionEnginePool<TIn, TOut>
    where TIn : class
    where TOut : class, new()
{
    readonly ObjectPool<PredictionEngine<TIn, TOut>> _pool;

    /// <param name="catalog">Where engines come from, <c>mlContext.Model</c>.</param>
    /// <param name="model">The fitted or loaded pipeline.</param>
    /// <param name="maximumRetained">Idle engines kept; 0 = 2 × processor count.</param>
    public BitLlamaPredictionEnginePool(ModelOperationsCatalog catalog, ITransformer model, int maximumRetained = 0)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegative(maximumRetained);
        var provider = new DefaultObjectPoolProvider { MaximumRetained = maximumRetained == 0 ? 2 * Environment.ProcessorCount : maximumRetained };
        _pool = provider.Create(new Policy(catalog, model));
    }

    /// <summary>Predicts with an engine borrowed for this call only.</summary>
    public TOut Predict(TIn example)
    {
        var engine = _pool.Get();
        try { return engine.Predict(example); }
        finally { _pool.Return(engine); }
    }

    /// <summary>Borrows an engine for several predictions on one thread; give it back with <see cref="Return"/>.</summary>
    public PredictionEngine<TIn, TOut> Get() => _pool.Get();

    public void Return(PredictionEngine<TIn, TOut> engine) => _pool.Return(engine);

    sealed class Policy(ModelOperationsCatalog catalog, ITransformer model) : PooledObjectPolicy<PredictionEngine<TIn, TOut>>
    {
        public override PredictionEngine<TIn, TOut> Create() => catalog.CreatePredictionEngine<TIn, TOut>(model);
        public override bool Return(PredictionEngine<TIn, TOut> obj) => true;
    }
}
