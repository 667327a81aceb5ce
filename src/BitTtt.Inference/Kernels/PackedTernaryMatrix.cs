using System.Numerics;
using BitTtt.Formats;

namespace BitTtt.Inference.Kernels;

/// <summary>
/// A BitLinear weight packed to 2 bits per weight in the layout of <see cref="TernaryPacking"/> (row groups of
/// 16, tiles of 16 columns; the specification, with the reference quantizer, is at the top of that file and in
/// docs/format.md §7), immutable after construction. The packed <c>.bitt</c> file stores exactly these bytes, so
/// loading one is a read, not a conversion. Shape key: R = rows (out features), C = cols (in features), Rp / Cp = padded.
/// </summary>
public sealed class PackedTernaryMatrix
{
    PackedTernaryMatrix(int rows, int cols, float scale, byte[] codes)
    {
        Rows = rows;
        Cols = cols;
        PaddedRows = TernaryPacking.PadRows(rows);
        PaddedCols = TernaryPacking.PadCols(cols);
        Scale = scale;
        Codes = codes;
    }

    public int Rows { get; }
    public int Cols { get; }
    /// <summary>Rp: rows rounded up to a multiple of <see cref="TernaryPacking.RowPadding"/>.</summary>
    public int PaddedRows { get; }
    /// <summary>Cp: cols rounded up to a multiple of <see cref="TernaryPacking.TileCols"/>.</summary>
    public int PaddedCols { get; }
    /// <summary>Tiles per row group (Cp / 16).</summary>
    public int Tiles => PaddedCols / TernaryPacking.TileCols;
    /// <summary>Bytes of one row group: <see cref="Tiles"/> × 64.</summary>
    public int GroupBytes => Tiles * TernaryPacking.TileBytes;
    /// <summary>The per-tensor weight scale s (effective weight = Wq / s).</summary>
    public float Scale { get; }
    /// <summary>(Rp · Cp / 4) packed codes.</summary>
    internal byte[] Codes { get; }

    /// <summary>The reference quantizer (<see cref="TernaryPacking.Quantize"/>): per-tensor scale as docs/model.md §3, then packs.</summary>
    public static PackedTernaryMatrix Quantize(ReadOnlySpan<float> weights, int rows, int cols)
    {
        var (codes, scale) = TernaryPacking.Quantize(weights, rows, cols);
        return new PackedTernaryMatrix(rows, cols, scale, codes);
    }

    /// <summary>Packs already ternary (R, C) values in {-1, 0, +1} with the given scale.</summary>
    public static PackedTernaryMatrix FromTernary(ReadOnlySpan<sbyte> ternary, int rows, int cols, float scale) =>
        new(rows, cols, scale, TernaryPacking.Pack(ternary, rows, cols));

    /// <summary>
    /// Takes packed codes as they are (a packed file's bytes): checks the length, that no code is 3, and that the
    /// padding holds weight 0, so a damaged file is an error here rather than wrong numbers later.
    /// </summary>
    public static PackedTernaryMatrix FromCodes(byte[] codes, int rows, int cols, float scale, string what)
    {
        ArgumentNullException.ThrowIfNull(codes);
        long expected = TernaryPacking.PackedBytes(rows, cols);
        if (codes.LongLength != expected)
            throw new ArgumentException($"{what}: {codes.LongLength} bytes of packed codes, a ({rows}, {cols}) ternary weight needs {expected}");
        if (!float.IsFinite(scale) || scale <= 0)
            throw new ArgumentException($"{what}: scale {scale} must be a positive finite number");
        if (FindCode3(codes) is long at)
            throw new ArgumentException($"{what}: byte {at} holds the code 3, which is not a ternary value (codes are 0, 1, 2 for -1, 0, +1)");
        var m = new PackedTernaryMatrix(rows, cols, scale, codes);
        if (m.PaddedRows != rows || m.PaddedCols != cols) m.CheckPaddingIsZero(what);
        return m;
    }

    /// <summary>Unpacks to (R, C) ternary values; the inverse of <see cref="FromTernary"/>.</summary>
    public sbyte[] ToTernary() => TernaryPacking.Unpack(Codes, Rows, Cols);

    /// <summary>Bytes held by the packed codes.</summary>
    public long SizeInBytes => Codes.LongLength;

    /// <summary>The first byte holding a 2-bit field 11, or null: a byte b has one iff b &amp; (b >> 1) &amp; 0x55 is non-zero.</summary>
    static long? FindCode3(ReadOnlySpan<byte> codes)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var low = new Vector<byte>(0x55);
            var acc = Vector<byte>.Zero;
            for (; i <= codes.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                var v = new Vector<byte>(codes[i..]);
                acc |= v & Vector.ShiftRightLogical(v, 1) & low;
            }
            if (acc != Vector<byte>.Zero) i = 0;   // found somewhere: locate it below
        }
        for (; i < codes.Length; i++)
            if ((codes[i] & (codes[i] >> 1) & 0x55) != 0) return i;
        return null;
    }

    void CheckPaddingIsZero(string what)
    {
        for (int r = 0; r < PaddedRows; r++)
            for (int c = r < Rows ? Cols : 0; c < PaddedCols; c++)
            {
                var (offset, shift) = TernaryPacking.Locate(r, c, PaddedCols);
                if (((Codes[offset] >> shift) & 3) != 1)
                    throw new ArgumentException($"{what}: padding weight [{r}, {c}] of the packed ({Rows}, {Cols}) weight is not 0 (code 1)");
            }
    }
}
