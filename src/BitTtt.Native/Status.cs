using System.Runtime.InteropServices;
using System.Text;

namespace BitTtt.Native;

/// <summary>What every exported function returns (BITTTT_OK, BITTTT_E_* in bitttt.h); the message is in
/// <see cref="Errors"/>. Values are part of the ABI: never renumber, only append.</summary>
public enum Status
{
    Ok = 0,
    InvalidArgument = 1,
    InvalidHandle = 2,
    NotFound = 3,
    Format = 4,
    Busy = 5,
    BufferTooSmall = 6,
    Io = 7,
    OutOfMemory = 8,
    Unsupported = 9,
    Internal = 10,
}

/// <summary>A problem found by the ABI layer itself: a handle or buffer check.</summary>
public sealed class NativeException(Status status, string message) : Exception(message)
{
    public Status Status { get; } = status;
}

/// <summary>
/// The thread-local last error (bitttt_last_error): every exception is caught at the ABI boundary and
/// becomes a status code plus this UTF-8 message, so no exception ever unwinds into C or Python.
/// </summary>
public static unsafe class Errors
{
    [ThreadStatic] static byte* t_message;
    static readonly byte* Empty = (byte*)NativeMemory.AllocZeroed(1);

    /// <summary>The message of the last failing call on this thread ("" when none); valid until the next failing call on it.</summary>
    public static byte* Last => t_message != null ? t_message : Empty;

    /// <summary>Records <paramref name="e"/> as this thread's last error and returns its status.</summary>
    public static int Report(Exception e)
    {
        var status = Classify(e);
        try
        {
            Set(status == Status.Internal ? $"{e.GetType().Name}: {e.Message}" : e.Message);
        }
        catch (OutOfMemoryException)
        {
            // Nothing may escape into C; the status alone still says what happened.
        }
        return (int)status;
    }

    public static Status Classify(Exception e) => e switch
    {
        NativeException n => n.Status,
        ObjectDisposedException => Status.InvalidHandle,
        FileNotFoundException or DirectoryNotFoundException => Status.NotFound,
        BitLlamaFormatException => Status.Format,
        ArgumentException => Status.InvalidArgument,
        InvalidOperationException => Status.Busy,
        NotSupportedException => Status.Unsupported,
        OutOfMemoryException or InsufficientExecutionStackException => Status.OutOfMemory,
        IOException or UnauthorizedAccessException => Status.Io,
        _ => Status.Internal,
    };

    static void Set(string message)
    {
        int length = Encoding.UTF8.GetByteCount(message);
        var buffer = (byte*)NativeMemory.Alloc((nuint)length + 1);
        Encoding.UTF8.GetBytes(message, new Span<byte>(buffer, length));
        buffer[length] = 0;
        var old = t_message;
        t_message = buffer;
        if (old != null) NativeMemory.Free(old);
    }
}
