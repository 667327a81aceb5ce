namespace BitTtt.Formats;

/// <summary>
/// Element types this project reads from safetensors files. Full-precision weights are written as <see cref="F32"/>;
/// <see cref="U8"/> and <see cref="I8"/> hold the packed <c>.bitt</c>'s ternary codes and int8 rows (docs/format.md §7).
/// </summary>
public enum SafeTensorDType { F32, F16, BF16, U8, I8 }

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">The header key, e.g. <c>layers.0.ttt.down.weight</c>.</param>
/// <param name="DType">The stored element type.</param>
/// <param name="Shape">Dimensions, row-major; <c>[]</c> is a scalar.</param>
/// <param name="Offset">Absolute byte offset of the tensor's data in the file.</param>
/// <param name="ByteLength">Bytes of data: element size × <see cref="ElementCount"/>.</param>
public sealed record SafeTensorInfo(string Name, SafeTensorDType DType, long[] Shape, long Offset, long ByteLength)
{
    /// <summary>Product of <see cref="Shape"/> (1 for a scalar, 0 for an empty tensor).</summary>
    public long ElementCount { get; } = SafeTensorShapes.ElementCount(Shape);
}

/// <summary>A float tensor to write: name, shape and its values in row-major order.</summary>
public readonly record struct SafeTensorData(string Name, long[] Shape, ReadOnlyMemory<float> Data);

/// <summary>A tensor of any dtype to write: its little-endian bytes (element size × product(shape)).</summary>
public readonly record struct SafeTensorBytes(string Name, SafeTensorDType DType, long[] Shape, ReadOnlyMemory<byte> Data)
{
    /// <summary>An F32 tensor's bytes.</summary>
    public static SafeTensorBytes Float32(string name, long[] shape, float[] data) =>
        new(name, SafeTensorDType.F32, shape, System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()).ToArray());
}

internal static class SafeTensorShapes
{
    public static readonly string AcceptedDTypes = "F32, F16, BF16, U8, I8";

    /// <summary>Product of the dimensions; throws <see cref="OverflowException"/> past <see cref="long.MaxValue"/>.</summary>
    public static long ElementCount(long[] shape)
    {
        long n = 1;
        foreach (long d in shape) n = checked(n * d);
        return n;
    }

    public static int ElementSize(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F32 => 4,
        SafeTensorDType.F16 or SafeTensorDType.BF16 => 2,
        _ => 1,
    };

    public static bool TryParse(string text, out SafeTensorDType dtype)
    {
        switch (text)
        {
            case "F32": dtype = SafeTensorDType.F32; return true;
            case "F16": dtype = SafeTensorDType.F16; return true;
            case "BF16": dtype = SafeTensorDType.BF16; return true;
            case "U8": dtype = SafeTensorDType.U8; return true;
            case "I8": dtype = SafeTensorDType.I8; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>"[2, 3]" — the form every error message uses.</summary>
    public static string Format(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}
