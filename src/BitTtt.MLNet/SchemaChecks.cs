using Microsoft.ML;
using Microsoft.ML.Data;

namespace BitTtt.MLNet;

/// <summary>
/// Column checks shared by GetOutputSchema (SchemaShape, before anything trains) and Fit/Transform
/// (DataViewSchema), with ML.NET's own wording and exception type
/// (<c>ArgumentOutOfRangeException</c> on parameter <c>inputSchema</c>).
/// </summary>
internal static class SchemaChecks
{
    /// <summary>Annotation on the token column: the tokenizer.json text of the tokenizer that produced it.</summary>
    public const string TokenizerAnnotation = "BitLlama.Tokenizer";
    /// <summary>Annotation on the token column: the name of the text column it was produced from.</summary>
    public const string SourceColumnAnnotation = "BitLlama.SourceColumn";

    public static Exception Missing(string column) =>
        new ArgumentOutOfRangeException("inputSchema", $"Could not find input column '{column}'");

    public static Exception Mismatch(string column, string expected, string found) =>
        new ArgumentOutOfRangeException("inputSchema", $"Schema mismatch for input column '{column}': expected {expected}, got {found}");

    public static SchemaShape.Column Text(SchemaShape schema, string column)
    {
        if (!TryFind(schema, column, out var c)) throw Missing(column);
        if (c.Kind != SchemaShape.Column.VectorKind.Scalar || c.ItemType is not TextDataViewType)
            throw Mismatch(column, "String", Describe(c));
        return c;
    }

    public static SchemaShape.Column Tokens(SchemaShape schema, string column)
    {
        if (!TryFind(schema, column, out var c)) throw Missing(column);
        bool vector = c.Kind is SchemaShape.Column.VectorKind.Vector or SchemaShape.Column.VectorKind.VariableVector;
        if (!vector || c.IsKey || !IsTokenItem(c.ItemType)) throw Mismatch(column, "vector of UInt32", Describe(c));
        return c;
    }

    public static DataViewSchema.Column Text(DataViewSchema schema, string column)
    {
        var c = schema.GetColumnOrNull(column) ?? throw Missing(column);
        if (c.Type is not TextDataViewType) throw Mismatch(column, "String", $"{c.Type}");
        return c;
    }

    public static DataViewSchema.Column Tokens(DataViewSchema schema, string column)
    {
        var c = schema.GetColumnOrNull(column) ?? throw Missing(column);
        if (c.Type is not VectorDataViewType v || !IsTokenItem(v.ItemType)) throw Mismatch(column, "vector of UInt32", $"{c.Type}");
        return c;
    }

    static bool IsTokenItem(DataViewType type) => type == NumberDataViewType.UInt32 || type == NumberDataViewType.Int32;

    static string Describe(SchemaShape.Column c) => c.Kind switch
    {
        SchemaShape.Column.VectorKind.Scalar => c.IsKey ? $"Key<{c.ItemType}>" : $"{c.ItemType}",
        _ => $"vector of {(c.IsKey ? $"Key<{c.ItemType}>" : $"{c.ItemType}")}",
    };

    /// <summary>Reads a text annotation of a column; null when absent.</summary>
    public static string? TextAnnotation(DataViewSchema.Column column, string kind)
    {
        if (column.Annotations.Schema.GetColumnOrNull(kind) is not { Type: TextDataViewType }) return null;
        ReadOnlyMemory<char> value = default;
        column.Annotations.GetValue(kind, ref value);
        return value.ToString();
    }

    public static bool HasAnnotation(SchemaShape.Column column, string kind) => column.Annotations is { } a && TryFind(a, kind, out _);

    /// <summary>SchemaShape.TryFindColumn is internal; the last column of a name wins, as in ML.NET.</summary>
    public static bool TryFind(SchemaShape schema, string name, out SchemaShape.Column column)
    {
        column = default;
        bool found = false;
        foreach (var c in schema)
            if (c.Name == name) { column = c; found = true; }
        return found;
    }
}
