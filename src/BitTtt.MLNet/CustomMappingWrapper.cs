using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet;

/// <summary>
/// The shared shape of our transformers: a thin wrapper over an inner CustomMapping transformer (the only
/// way a third party gets PredictionEngine, chaining and lazy Transform from public ML.NET APIs), which
/// first checks the text column it reads so a bad schema fails in ML.NET's words, not deep inside the mapping.
/// </summary>
public abstract class CustomMappingWrapper : ITransformer
{
    private protected CustomMappingWrapper() { }

    /// <summary>The inner CustomMapping transformer; set once by the derived constructor.</summary>
    private protected ITransformer Inner { get; set; } = null!;

    /// <summary>The String column the mapping reads.</summary>
    private protected abstract string TextColumn { get; }

    /// <summary>Writes this transformer into an ML.NET model zip (see <see cref="ModelZip"/>).</summary>
    private protected abstract void SaveModel(ModelSaveContext ctx);

    public bool IsRowToRowMapper => Inner.IsRowToRowMapper;

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        SchemaChecks.Text(inputSchema, TextColumn);
        return Inner.GetOutputSchema(inputSchema);
    }

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        SchemaChecks.Text(inputSchema, TextColumn);
        return Inner.GetRowToRowMapper(inputSchema);
    }

    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        SchemaChecks.Text(input.Schema, TextColumn);
        return TransformCore(input);
    }

    /// <summary>The view <see cref="Transform"/> returns once the text column was checked; by default the inner mapping's (lazy, row by row).</summary>
    private protected virtual IDataView TransformCore(IDataView input) => Inner.Transform(input);

    /// <summary>Called by <c>MLContext.Model.Save</c>; reload such a file with <c>mlContext.Model.LoadWithBitLlama</c>.</summary>
    void ICanSaveModel.Save(ModelSaveContext ctx) => SaveModel(ctx);
}
