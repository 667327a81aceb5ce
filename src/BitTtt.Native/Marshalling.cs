using System.Runtime.InteropServices;
using System.Text;
using BitTtt.Inference;

namespace BitTtt.Native;

/// <summary>bitttt_sampling in bitttt.h (ABI 2): 48 bytes on 64-bit platforms. Its fields are <see cref="SamplingOptions"/>' in snake case.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct NativeSampling
{
    public uint StructSize;
    public int MaxTokens;
    public float Temperature;
    public int TopK;
    public float TopP;
    public float RepetitionPenalty;
    public int HasSeed;
    public int Seed;
    public byte** StopStrings;
    public nuint StopCount;
}

/// <summary>Reading C arguments: every pointer and length is checked and named in the error.</summary>
public static unsafe class Marshalling
{
    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>A NUL-terminated UTF-8 string argument; null is an error naming <paramref name="what"/>.</summary>
    public static string Utf8Z(byte* text, string what)
    {
        if (text == null) throw new ArgumentException($"{what} is NULL");
        return Decode(new ReadOnlySpan<byte>(text, checked((int)StrLen(text))), what);
    }

    /// <summary>A (pointer, length) UTF-8 argument; NULL is allowed only with length 0.</summary>
    public static string Utf8(byte* text, nuint length, string what)
    {
        if (text == null && length != 0) throw new ArgumentException($"{what} is NULL but its length is {length}");
        if (length > int.MaxValue) throw new ArgumentException($"{what}: length {length} exceeds {int.MaxValue} bytes");
        return Decode(new ReadOnlySpan<byte>(text, (int)length), what);
    }

    public static ReadOnlySpan<T> Span<T>(T* items, nuint count, string what) where T : unmanaged
    {
        if (items == null && count != 0) throw new ArgumentException($"{what} is NULL but its count is {count}");
        if (count > int.MaxValue) throw new ArgumentException($"{what}: count {count} exceeds {int.MaxValue}");
        return new ReadOnlySpan<T>(items, (int)count);
    }

    public static void CheckOut(void* pointer, string what)
    {
        if (pointer == null) throw new ArgumentException($"{what} (the output pointer) is NULL");
    }

    /// <summary>Copies <paramref name="text"/> as NUL-terminated UTF-8 into (buffer, capacity); *length gets its byte count
    /// (without the NUL) even when the buffer is too small, so the caller can retry with the right size.</summary>
    public static void CopyOut(string text, byte* buffer, nuint capacity, nuint* length, string what)
    {
        CheckOut(length, what + " length");
        int needed = Encoding.UTF8.GetByteCount(text);
        *length = (nuint)needed;
        if (buffer == null || capacity < (nuint)needed + 1)
            throw new NativeException(Status.BufferTooSmall, $"{what}: the buffer holds {capacity} bytes, {needed + 1} are needed (including the NUL)");
        Encoding.UTF8.GetBytes(text, new Span<byte>(buffer, needed));
        buffer[needed] = 0;
    }

    /// <summary><paramref name="options"/> (a model's defaults or the library's) in C layout, without stop strings.</summary>
    public static NativeSampling ToNative(SamplingOptions options) => new()
    {
        StructSize = (uint)sizeof(NativeSampling),
        MaxTokens = options.MaxTokens,
        Temperature = options.Temperature,
        TopK = options.TopK,
        TopP = options.TopP,
        RepetitionPenalty = options.RepetitionPenalty,
        HasSeed = options.Seed is null ? 0 : 1,
        Seed = options.Seed ?? 0,
    };

    /// <summary>
    /// bitttt_sampling → <see cref="SamplingOptions"/>; NULL means <paramref name="defaults"/> (the model's). A value
    /// outside its rule is an error naming the struct field (the same name as the Python keyword).
    /// </summary>
    public static SamplingOptions Options(NativeSampling* s, SamplingOptions defaults)
    {
        if (s == null) return defaults;
        if (s->StructSize != (uint)sizeof(NativeSampling))
            throw new ArgumentException($"bitttt_sampling.struct_size is {s->StructSize}, this library (ABI {Exports.AbiVersion}) expects {sizeof(NativeSampling)}; fill it with bitttt_sampling_init or bitttt_model_sampling");
        if (s->StopCount > 1024) throw new ArgumentException($"bitttt_sampling.stop_count is {s->StopCount}, at most 1024 stop strings are accepted");
        if (s->StopStrings == null && s->StopCount != 0) throw new ArgumentException($"bitttt_sampling.stop_strings is NULL but stop_count is {s->StopCount}");
        var stops = new string[(int)s->StopCount];
        for (int i = 0; i < stops.Length; i++) stops[i] = Utf8Z(s->StopStrings[i], $"bitttt_sampling.stop_strings[{i}]");
        var options = new SamplingOptions
        {
            MaxTokens = s->MaxTokens,
            Temperature = s->Temperature,
            TopK = s->TopK,
            TopP = s->TopP,
            RepetitionPenalty = s->RepetitionPenalty,
            Seed = s->HasSeed != 0 ? s->Seed : null,
            StopStrings = stops,
        };
        options.Validate(NameStyle.Snake);
        return options;
    }

    static string Decode(ReadOnlySpan<byte> bytes, string what)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw new ArgumentException($"{what} is not valid UTF-8 (byte offset {e.Index})", e);
        }
    }

    static nuint StrLen(byte* text)
    {
        nuint n = 0;
        while (text[n] != 0) n++;
        return n;
    }
}
