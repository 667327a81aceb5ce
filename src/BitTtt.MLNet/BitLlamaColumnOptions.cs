namespace BitTtt.MLNet;

/// <summary>
/// What <c>BitLlamaScore</c> and <c>BitLlamaFeaturize</c> share: the text column they read, how much of each row
/// they read, the text a row is read after, and how many rows run at once.
/// </summary>
public abstract class BitLlamaTextColumnOptions
{
    private protected BitLlamaTextColumnOptions(string outputColumnName) => OutputColumnName = outputColumnName;

    /// <summary>The String column read; null = the same as <see cref="OutputColumnName"/>, as everywhere in ML.NET.</summary>
    public string? InputColumnName { get; set; } = BitLlamaDefaults.TextColumnName;

    /// <summary>The column added.</summary>
    public string OutputColumnName { get; set; }

    /// <summary>Tokens read from the start of each row at most; a longer row is cut there. 0 = all of it.</summary>
    public int MaxTokens { get; set; } = BitLlamaDefaults.ColumnMaxTokens;

    /// <summary>
    /// Each row is read after this text, as training joined its rows with it (<see cref="BitLlamaDefaults.RowSeparator"/>),
    /// so the first token of a row is predicted as in training. Empty: a row starts the sequence, and its first token is
    /// context only.
    /// </summary>
    public string RowSeparator { get; set; } = BitLlamaDefaults.RowSeparator;

    /// <summary>Rows computed at once in <c>Transform</c> (0 = one per core). Results do not depend on it.</summary>
    public int Threads { get; set; }

    /// <summary>Rows a <c>Transform</c> cursor reads ahead and computes together across <see cref="Threads"/>.</summary>
    public int BatchSize { get; set; } = BitLlamaDefaults.ColumnBatchSize;

    internal string Input => InputColumnName ?? OutputColumnName;

    internal BitLlamaTextColumnOptions Copy() => (BitLlamaTextColumnOptions)MemberwiseClone();

    internal int EffectiveThreads => Threads == 0 ? Environment.ProcessorCount : Threads;

    internal virtual void Validate()
    {
        if (InputColumnName is not null) OptionChecks.Name(InputColumnName, nameof(InputColumnName));
        OptionChecks.Name(OutputColumnName, nameof(OutputColumnName));
        OptionChecks.Check(MaxTokens >= 0, nameof(MaxTokens), $"must be >= 0 (0 = all), got {MaxTokens}");
        ArgumentNullException.ThrowIfNull(RowSeparator, nameof(RowSeparator));
        OptionChecks.Check(Threads >= 0, nameof(Threads), $"must be >= 0 (0 = one per core), got {Threads}");
        OptionChecks.Check(BatchSize >= 1, nameof(BatchSize), $"must be >= 1, got {BatchSize}");
    }
}

/// <summary>Options of <see cref="BitLlamaScoreEstimator"/>.</summary>
public sealed class BitLlamaScoreOptions() : BitLlamaTextColumnOptions(BitLlamaDefaults.ScoreColumnName)
{
    /// <summary>The second column added: how many tokens the score averages (Single, so it concatenates with other features).</summary>
    public string TokenCountColumnName { get; set; } = BitLlamaDefaults.TokenCountColumnName;

    internal override void Validate()
    {
        base.Validate();
        OptionChecks.Name(TokenCountColumnName, nameof(TokenCountColumnName));
        if (TokenCountColumnName == OutputColumnName)
            throw new ArgumentException($"{nameof(TokenCountColumnName)} and {nameof(OutputColumnName)} must differ, both are '{OutputColumnName}'.", nameof(TokenCountColumnName));
    }
}

/// <summary>Options of <see cref="BitLlamaFeaturizeEstimator"/>.</summary>
public sealed class BitLlamaFeaturizeOptions() : BitLlamaTextColumnOptions(BitLlamaDefaults.FeaturesColumnName);
