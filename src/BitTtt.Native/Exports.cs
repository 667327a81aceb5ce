using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using BitTtt.Inference;

namespace BitTtt.Native;

/// <summary>
/// The C ABI (include/bitttt.h; docs in that header). Each function catches every exception and returns a
/// <see cref="Status"/>, with the message in bitttt_last_error; handles go through <see cref="HandleTable"/>.
/// </summary>
public static unsafe class Exports
{
    /// <summary>BITTTT_ABI_VERSION: bumped when a signature, struct or status code changes meaning.</summary>
    public const uint AbiVersion = 2;

    /// <summary>bitttt_model_load / _from_config flags.</summary>
    const uint FlagInt8LmHead = 1, FlagFp32LmHead = 2, FlagNoBatching = 4;

    [UnmanagedCallersOnly(EntryPoint = "bitttt_abi_version", CallConvs = [typeof(CallConvCdecl)])]
    public static uint GetAbiVersion() => AbiVersion;

    [UnmanagedCallersOnly(EntryPoint = "bitttt_last_error", CallConvs = [typeof(CallConvCdecl)])]
    public static byte* LastError() => Errors.Last;

    [UnmanagedCallersOnly(EntryPoint = "bitttt_model_load", CallConvs = [typeof(CallConvCdecl)])]
    public static int ModelLoad(byte* path, uint flags, ulong* model)
    {
        try
        {
            Marshalling.CheckOut(model, "model");
            *model = 0;
            *model = HandleTable.Add(NativeModel.Load(Marshalling.Utf8Z(path, "path"), Options(flags)));
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_model_from_config", CallConvs = [typeof(CallConvCdecl)])]
    public static int ModelFromConfig(byte* configJson, byte* safetensorsPath, byte* tokenizerPath, uint flags, ulong* model)
    {
        try
        {
            Marshalling.CheckOut(model, "model");
            *model = 0;
            string config = Marshalling.Utf8Z(configJson, "config_json");
            string weights = Marshalling.Utf8Z(safetensorsPath, "safetensors_path");
            string? tokenizer = tokenizerPath == null ? null : Marshalling.Utf8Z(tokenizerPath, "tokenizer_path");
            *model = HandleTable.Add(NativeModel.FromConfig(config, weights, tokenizer, Options(flags)));
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_model_free", CallConvs = [typeof(CallConvCdecl)])]
    public static int ModelFree(ulong model)
    {
        try
        {
            // Sessions keep the weights alive: freeing a model only ends this handle.
            HandleTable.Remove<NativeModel>(model).Release();
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_model_get_info", CallConvs = [typeof(CallConvCdecl)])]
    public static int ModelInfo(ulong model, NativeModelInfo* info)
    {
        try
        {
            Marshalling.CheckOut(info, "info");
            if (info->StructSize != (uint)sizeof(NativeModelInfo))
                throw new ArgumentException($"bitttt_model_info.struct_size is {info->StructSize}, this library (ABI {AbiVersion}) expects {sizeof(NativeModelInfo)}");
            var m = HandleTable.Get<NativeModel>(model);
            var c = m.Weights.Config;
            *info = new NativeModelInfo
            {
                StructSize = (uint)sizeof(NativeModelInfo),
                VocabSize = c.VocabSize,
                HiddenDim = c.HiddenDim,
                NumLayers = c.NumLayers,
                TokenizerVocabSize = m.Tokenizer?.VocabSize ?? 0,
                BosId = m.Tokenizer?.BosId ?? -1,
                EosId = m.Tokenizer?.EosId ?? -1,
            };
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_model_config_json", CallConvs = [typeof(CallConvCdecl)])]
    public static int ModelConfigJson(ulong model, byte* buffer, nuint capacity, nuint* length)
    {
        try
        {
            var m = HandleTable.Get<NativeModel>(model);
            Marshalling.CopyOut(m.Weights.Config.ToJson(), buffer, capacity, length, "config_json");
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_encode", CallConvs = [typeof(CallConvCdecl)])]
    public static int Encode(ulong model, byte* text, nuint textLength, int* ids, nuint capacity, nuint* count)
    {
        try
        {
            Marshalling.CheckOut(count, "count");
            var tokenizer = HandleTable.Get<NativeModel>(model).RequireTokenizer("encode");
            var result = tokenizer.Encode(Marshalling.Utf8(text, textLength, "text"));
            *count = (nuint)result.Length;
            if (result.Length > 0 && (ids == null || capacity < (nuint)result.Length))
                throw new NativeException(Status.BufferTooSmall, $"encode: the ids buffer holds {capacity} ids, the text has {result.Length} tokens");
            result.CopyTo(new Span<int>(ids, result.Length));
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_decode", CallConvs = [typeof(CallConvCdecl)])]
    public static int Decode(ulong model, int* ids, nuint count, byte* buffer, nuint capacity, nuint* length)
    {
        try
        {
            var tokenizer = HandleTable.Get<NativeModel>(model).RequireTokenizer("decode");
            var text = tokenizer.Decode(Marshalling.Span(ids, count, "ids").ToArray());
            Marshalling.CopyOut(text, buffer, capacity, length, "decode");
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_session_create", CallConvs = [typeof(CallConvCdecl)])]
    public static int SessionCreate(ulong model, ulong* session)
    {
        try
        {
            Marshalling.CheckOut(session, "session");
            *session = 0;
            *session = HandleTable.Add(new NativeSession(HandleTable.Get<NativeModel>(model)));
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_session_free", CallConvs = [typeof(CallConvCdecl)])]
    public static int SessionFree(ulong session)
    {
        try
        {
            HandleTable.Remove<NativeSession>(session).Free();
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_session_reset", CallConvs = [typeof(CallConvCdecl)])]
    public static int SessionReset(ulong session)
    {
        try
        {
            HandleTable.Get<NativeSession>(session).Reset();
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_session_position", CallConvs = [typeof(CallConvCdecl)])]
    public static int SessionPosition(ulong session, long* position)
    {
        try
        {
            Marshalling.CheckOut(position, "position");
            *position = HandleTable.Get<NativeSession>(session).Position;
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_session_feed", CallConvs = [typeof(CallConvCdecl)])]
    public static int SessionFeed(ulong session, int* tokens, nuint count, float* logits, nuint capacity)
    {
        try
        {
            var s = HandleTable.Get<NativeSession>(session);
            var ids = Marshalling.Span(tokens, count, "tokens");
            if (logits == null && capacity != 0) throw new ArgumentException($"logits is NULL but its capacity is {capacity}");
            if (capacity > int.MaxValue) throw new ArgumentException($"logits capacity {capacity} exceeds {int.MaxValue}");
            s.Feed(ids, new Span<float>(logits, (int)capacity));
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_session_learn", CallConvs = [typeof(CallConvCdecl)])]
    public static int SessionLearn(ulong session, byte* text, nuint length)
    {
        try
        {
            HandleTable.Get<NativeSession>(session).Learn(Marshalling.Utf8(text, length, "text"));
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_session_save_memory", CallConvs = [typeof(CallConvCdecl)])]
    public static int SessionSaveMemory(ulong session, byte* path)
    {
        try
        {
            HandleTable.Get<NativeSession>(session).SaveMemory(Marshalling.Utf8Z(path, "path"));
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_session_load_memory", CallConvs = [typeof(CallConvCdecl)])]
    public static int SessionLoadMemory(ulong session, byte* path)
    {
        try
        {
            HandleTable.Get<NativeSession>(session).LoadMemory(Marshalling.Utf8Z(path, "path"));
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_sampling_init", CallConvs = [typeof(CallConvCdecl)])]
    public static int SamplingInit(NativeSampling* options)
    {
        try
        {
            Marshalling.CheckOut(options, "options");
            *options = Marshalling.ToNative(new SamplingOptions());
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_model_sampling", CallConvs = [typeof(CallConvCdecl)])]
    public static int ModelSampling(ulong model, NativeSampling* options)
    {
        try
        {
            Marshalling.CheckOut(options, "options");
            *options = Marshalling.ToNative(HandleTable.Get<NativeModel>(model).DefaultSampling);
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_generate", CallConvs = [typeof(CallConvCdecl)])]
    public static int Generate(ulong session, byte* prompt, nuint promptLength, NativeSampling* options,
        delegate* unmanaged[Cdecl]<void*, byte*, nuint, int> onPiece, void* userData)
    {
        try
        {
            var s = HandleTable.Get<NativeSession>(session);
            string text = Marshalling.Utf8(prompt, promptLength, "prompt");
            var sampling = Marshalling.Options(options, s.Model.DefaultSampling);
            s.Generate(text, sampling, piece => onPiece == null || Emit(onPiece, userData, piece));
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "bitttt_chat", CallConvs = [typeof(CallConvCdecl)])]
    public static int Chat(ulong session, byte* messagesJson, nuint length, NativeSampling* options,
        delegate* unmanaged[Cdecl]<void*, byte*, nuint, int> onPiece, void* userData)
    {
        try
        {
            var s = HandleTable.Get<NativeSession>(session);
            string json = Marshalling.Utf8(messagesJson, length, "messages_json");
            IReadOnlyList<BitTtt.Tokenization.ChatTurn> messages;
            try { messages = ChatData.Parse(json, "messages_json", requireAssistant: false); }
            catch (FormatException e) { throw new ArgumentException(e.Message, e); }
            var sampling = Marshalling.Options(options, s.Model.DefaultSampling);
            s.Chat(messages, sampling, piece => onPiece == null || Emit(onPiece, userData, piece));
            return 0;
        }
        catch (Exception e) { return Errors.Report(e); }
    }

    /// <summary>Hands one piece to the C callback as UTF-8 (NUL-terminated too); nonzero return = continue.</summary>
    static bool Emit(delegate* unmanaged[Cdecl]<void*, byte*, nuint, int> onPiece, void* userData, string piece)
    {
        byte[] bytes = new byte[Encoding.UTF8.GetByteCount(piece) + 1];
        int n = Encoding.UTF8.GetBytes(piece, bytes);
        fixed (byte* p = bytes) return onPiece(userData, p, (nuint)n) != 0;
    }

    /// <summary>bitttt.h's load flags over <see cref="InferenceOptions"/>' defaults (0 = the defaults: int8 head, batching on).</summary>
    static InferenceOptions Options(uint flags)
    {
        const uint known = FlagInt8LmHead | FlagFp32LmHead | FlagNoBatching;
        if ((flags & ~known) != 0)
            throw new ArgumentException($"flags 0x{flags:x}: unknown bits 0x{flags & ~known:x} (known: BITTTT_INT8_LM_HEAD = 1, BITTTT_FP32_LM_HEAD = 2, BITTTT_NO_BATCHING = 4)");
        if ((flags & FlagInt8LmHead) != 0 && (flags & FlagFp32LmHead) != 0)
            throw new ArgumentException($"flags 0x{flags:x}: BITTTT_INT8_LM_HEAD and BITTTT_FP32_LM_HEAD exclude each other");
        var defaults = new InferenceOptions();
        return defaults with
        {
            Int8LmHead = (flags & FlagFp32LmHead) == 0 && ((flags & FlagInt8LmHead) != 0 || defaults.Int8LmHead),
            Batching = (flags & FlagNoBatching) == 0 && defaults.Batching,
        };
    }
}

/// <summary>bitttt_model_info in bitttt.h (ABI 2).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct NativeModelInfo
{
    public uint StructSize;
    public int VocabSize;
    public int HiddenDim;
    public int NumLayers;
    public int TokenizerVocabSize;
    public int BosId;
    public int EosId;
}
