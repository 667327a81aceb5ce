namespace BitTtt;

/// <summary>
/// Upper bounds every reader checks BEFORE it allocates anything sized by a number it read from a file, so a
/// small hostile file can neither exhaust memory nor stall the process (docs/reliability.md, docs/format.md).
/// The defaults fit every model this project writes with a wide margin; raise one with <c>with { ... }</c>
/// and pass the result to the loading call (<c>ModelPackage.Open</c>, <c>BitLlamaTokenizer.FromJson</c>,
/// <c>BitLlamaConfig.FromJson</c>, <c>SafeTensorsReader.Open</c>, <c>InferenceOptions.Limits</c>).
/// </summary>
public sealed record BitLlamaLoadLimits
{
    /// <summary>The limits used when a caller passes none.</summary>
    public static BitLlamaLoadLimits Default { get; } = new();

    /// <summary>safetensors JSON header: 100 MB, the limit of the reference implementation.</summary>
    public long MaxSafeTensorsHeaderBytes { get; init; } = 100_000_000;

    /// <summary>.bitt JSON header (config + tokenizer.json): 64 MiB.</summary>
    public long MaxBittHeaderBytes { get; init; } = 64L << 20;

    /// <summary>tokenizer.json (a 262k-token vocabulary with its merges is ~30 MB): 64 MiB.</summary>
    public long MaxTokenizerJsonBytes { get; init; } = 64L << 20;

    /// <summary>config.json (ours are ~300 bytes): 1 MiB, also for the config inside a .bitt header or checkpoint.</summary>
    public long MaxConfigJsonBytes { get; init; } = 1L << 20;

    /// <summary>Nesting depth of any JSON document (our files nest at most 5 deep): 64.</summary>
    public int MaxJsonDepth { get; init; } = 64;

    /// <summary>Tensors in one safetensors header (a 1000-layer delta model has ~13k): 100,000.</summary>
    public int MaxTensors { get; init; } = 100_000;

    /// <summary>Dimensions of one tensor shape: 8.</summary>
    public int MaxTensorRank { get; init; } = 8;

    /// <summary>Tokenizer vocabulary entries, and so the largest token id + 1; also config vocab_size: 1,048,576.</summary>
    public int MaxVocabSize { get; init; } = 1 << 20;

    /// <summary>Tokenizer merges: 1,048,576.</summary>
    public int MaxMerges { get; init; } = 1 << 20;

    /// <summary>Characters of one vocabulary token, added token or merge part: 1,024.</summary>
    public int MaxTokenLength { get; init; } = 1024;

    /// <summary>Characters of a tokenizer's Split pre-tokenizer pattern: 1,024.</summary>
    public int MaxRegexLength { get; init; } = 1024;

    /// <summary>Time one match of a file-supplied pattern may take when it cannot run on the non-backtracking engine: 1 s.</summary>
    public TimeSpan RegexMatchTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A TTT memory file: 4 GiB.</summary>
    public long MaxMemoryFileBytes { get; init; } = 4L << 30;

    /// <summary>A training text given to <c>train --data</c> or the BPE trainer: 64 GiB (regular files only).</summary>
    public long MaxTrainingTextBytes { get; init; } = 64L << 30;
}
