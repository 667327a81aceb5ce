using BitTtt.Inference;

namespace BitTtt.MLNet;

/// <summary>
/// What <see cref="BitLlamaScoreTransformer"/> and <see cref="BitLlamaFeaturizeTransformer"/> compute for one row.
/// A row is tokenized on its own (cut at <see cref="BitLlamaTextColumnOptions.MaxTokens"/>) and fed, after the tokens
/// of <see cref="BitLlamaTextColumnOptions.RowSeparator"/>, through a fresh session, as training saw it (rows joined by
/// the separator). So a row's values depend on its text alone: not on other rows, their order, the batch or the
/// thread. Thread-safe (the weights are shared and immutable; each call has its own state).
/// Shape key: T = tokens of the row, D = hidden.
/// </summary>
internal sealed class RowMaps
{
    readonly BitLlamaTransformer _model;
    readonly int[] _separator;
    readonly int _maxTokens;

    public RowMaps(BitLlamaTransformer model, BitLlamaTextColumnOptions options)
    {
        _model = model;
        _separator = options.RowSeparator.Length == 0 ? [] : model.Tokenizer.Encode(options.RowSeparator);
        _maxTokens = options.MaxTokens;
    }

    /// <summary>Length of <see cref="Features"/>: the mean and the last of the final hidden states, 2·D.</summary>
    public int FeatureLength => 2 * _model.Config.HiddenDim;

    /// <summary>
    /// [mean ln p(token | separator and the tokens before it) over the row's tokens, the number of tokens averaged].
    /// Without a separator the first token is context only. A row with nothing to score gets [NaN, 0]
    /// (NaN is ML.NET's missing value for Single).
    /// </summary>
    public float[] Score(string? text)
    {
        _model.ThrowIfDisposed();
        int[] ids = Tokens(text);
        int scored = _separator.Length > 0 ? ids.Length : ids.Length - 1;
        if (scored <= 0) return [float.NaN, 0];
        double[] losses = ModelEvaluator.TokenLosses(_model.Model, [.. _separator, .. ids]);   // losses[t] scores token t + 1
        double sum = 0;
        for (int t = losses.Length - scored; t < losses.Length; t++) sum += losses[t];
        return [(float)(-sum / scored), scored];
    }

    /// <summary>
    /// The final hidden states (rmsnorm(h, norm_f), the LM head's input) of the row's tokens pooled into 2·D values:
    /// [0, D) their mean, [D, 2D) the last token's (which has read the whole row through the TTT memory).
    /// An empty row is pooled over the separator's tokens (one fixed vector for every empty row); without a
    /// separator it is all zeros.
    /// </summary>
    public float[] Features(string? text)
    {
        _model.ThrowIfDisposed();
        int dim = _model.Config.HiddenDim;
        var result = new float[2 * dim];
        int[] ids = Tokens(text);
        int[] sequence = [.. _separator, .. ids];
        if (sequence.Length == 0) return result;
        float[] hidden;
        using (var session = _model.Model.CreateSession()) hidden = session.HiddenStates(sequence);   // (T, D)
        int first = ids.Length > 0 ? _separator.Length : 0, count = sequence.Length - first;
        var mean = new double[dim];
        for (int t = first; t < sequence.Length; t++)
            for (int j = 0; j < dim; j++) mean[j] += hidden[t * dim + j];
        for (int j = 0; j < dim; j++) result[j] = (float)(mean[j] / count);
        hidden.AsSpan((sequence.Length - 1) * dim, dim).CopyTo(result.AsSpan(dim));
        return result;
    }

    int[] Tokens(string? text)
    {
        if (string.IsNullOrEmpty(text)) return [];
        int[] ids = _model.Tokenizer.Encode(text);
        return _maxTokens > 0 && ids.Length > _maxTokens ? ids[.._maxTokens] : ids;
    }
}
