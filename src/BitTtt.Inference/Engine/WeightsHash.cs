using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace BitTtt.Inference.Engine;

/// <summary>
/// The model fingerprint memory files are tied to (docs/format.md §6): SHA-256 over the shape description,
/// inner_lr and eps, then every weight in docs/model.md §2 order (embed; per layer norm1, the TTT tensors, norm2,
/// gate, up, down; norm_f; lm_head) — full-precision tensors as their fp32 bytes (the delta conv weights
/// transposed to (K, F)), ternary ones as their scale's 4 bytes and the 2-bit codes in 128-weight blocks of 32
/// bytes (byte j of a block holds weights j, 32 + j, 64 + j, 96 + j in bits 0-1 … 6-7; rows padded with code 1).
/// That byte form is the engine's first in-memory layout; the fingerprint keeps it so memory files saved by
/// earlier versions still load. It is computed while the weights are read, so nothing has to be kept for it.
/// </summary>
internal sealed class WeightsHash : IDisposable
{
    readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public WeightsHash(string description, BitLlamaConfig config) =>
        _sha.AppendData(System.Text.Encoding.UTF8.GetBytes(description + $", inner_lr {config.InnerLr:R}, eps {config.RmsNormEps:R}"));

    /// <summary>Hashes a full-precision tensor; returns it.</summary>
    public float[] Floats(float[] x)
    {
        _sha.AppendData(MemoryMarshal.AsBytes(x.AsSpan()));
        return x;
    }

    /// <summary>Hashes a ternary tensor (R, C) with its scale in the fingerprint's byte form.</summary>
    public void Ternary(ReadOnlySpan<sbyte> ternary, int rows, int cols, float scale)
    {
        _sha.AppendData(BitConverter.GetBytes(scale));
        int padded = (cols + 127) / 128 * 128, rowBytes = padded / 4;
        var row = new byte[rowBytes];
        for (int r = 0; r < rows; r++)
        {
            Array.Clear(row);
            for (int c = 0; c < padded; c++)
            {
                int q = c < cols ? ternary[r * cols + c] : 0, within = c % 128;
                row[c / 128 * 32 + within % 32] |= (byte)((q + 1) << (2 * (within / 32)));
            }
            _sha.AppendData(row);
        }
    }

    public string Finish() => Convert.ToHexStringLower(_sha.GetHashAndReset());

    public void Dispose() => _sha.Dispose();
}
