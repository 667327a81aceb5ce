using System.Text;
using System.Text.Unicode;

namespace BitTtt;

/// <summary>
/// Opens a training text so that no input can make a reader run forever: it must be a regular, non-empty
/// file within <see cref="BitLlamaLoadLimits.MaxTrainingTextBytes"/>, and the reader stops at the length the
/// file had when it was opened (a file that keeps growing, like one fed by <c>yes &gt; file</c>, is read up to there).
/// A device such as <c>/dev/zero</c> or a FIFO reports length 0 and is rejected before it is opened, so opening
/// never blocks on a pipe without a writer. What is not text (<see cref="TextCheck"/>: a NUL byte, invalid UTF-8)
/// is rejected while it is read, naming the file and the byte offset.
/// </summary>
public static class TrainingText
{
    public static StreamReader Open(string path, BitLlamaLoadLimits? limits = null)
    {
        long length = Length(path, limits);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return new StreamReader(new BoundedStream(stream, length, new TextCheck(path)), Encoding.UTF8, detectEncodingFromByteOrderMarks: true, 1 << 16, leaveOpen: false);
    }

    /// <summary>
    /// The length in bytes of a training text, after the checks <see cref="Open"/> makes before it opens the file
    /// (it exists, is a regular non-empty file, within the size limit), so a list of files can be checked before
    /// any of them is read.
    /// </summary>
    public static long Length(string path, BitLlamaLoadLimits? limits = null)
    {
        limits ??= BitLlamaLoadLimits.Default;
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: training text not found", path);
        long length = new FileInfo(path).Length;
        if (length == 0)
            throw new ArgumentException($"{path}: no text to train on: the file is empty, or not a regular file (a device, pipe or FIFO cannot be trained on)");
        if (length > limits.MaxTrainingTextBytes)
            throw new ArgumentException($"{path}: the training text is {length} bytes, more than the {limits.MaxTrainingTextBytes}-byte limit (BitLlamaLoadLimits.MaxTrainingTextBytes)");
        return length;
    }

    /// <summary>
    /// The text files that <paramref name="paths"/> name, in the order given: a file as it is; a directory, every
    /// <c>*.txt</c> file under it (subdirectories included, any letter case, hidden files and folders skipped) in
    /// ordinal order of their paths. A path that is neither, or a directory without a <c>.txt</c> file, is an error
    /// naming it.
    /// </summary>
    public static IReadOnlyList<string> Files(IEnumerable<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var files = new List<string>();
        foreach (string path in paths)
        {
            if (File.Exists(path))
            {
                files.Add(path);
                continue;
            }
            if (!Directory.Exists(path)) throw new FileNotFoundException($"{path}: training text not found (neither a file nor a directory)", path);
            var found = Directory.EnumerateFiles(path, "*.txt", new EnumerationOptions
            {
                RecurseSubdirectories = true, MatchCasing = MatchCasing.CaseInsensitive, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System,
            }).Order(StringComparer.Ordinal).ToList();
            if (found.Count == 0) throw new ArgumentException($"{path}: the directory holds no .txt file to train on");
            files.AddRange(found);
        }
        if (files.Count == 0) throw new ArgumentException("no training text given");
        return files;
    }

    /// <summary>Reads at most <c>length</c> bytes of the inner stream, then reports the end; every byte read passes the text check.</summary>
    sealed class BoundedStream(Stream inner, long bound, TextCheck check) : Stream
    {
        readonly long _length = bound;
        long _left = bound;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => _length;
        public override long Position { get => _length - _left; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_left <= 0) return 0;
            int n = inner.Read(buffer[..(int)Math.Min(buffer.Length, _left)]);
            _left -= n;
            check.Append(buffer[..n]);
            if (n == 0 || _left == 0) check.Complete();
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>
/// The one rule for "this file is text", used for training texts and for texts a model is evaluated on: UTF-8
/// (a byte-order mark allowed) without NUL bytes. Bytes are fed in pieces of any size, so a file of any length is
/// checked while it is read; the first offending byte is reported with its offset in the file.
/// </summary>
public sealed class TextCheck(string path)
{
    readonly byte[] _carry = new byte[4];     // the start of a multi-byte sequence that the last piece cut off
    int _carryLength;
    long _offset;                     // file offset of the next byte fed (the carried bytes come before it)
    byte[]? _joined;

    /// <summary>Checks a whole file's bytes at once.</summary>
    public static void Check(ReadOnlySpan<byte> bytes, string path)
    {
        var check = new TextCheck(path);
        check.Append(bytes);
        check.Complete();
    }

    /// <summary>Checks the next bytes; throws <see cref="ArgumentException"/> naming the file and the offset of a NUL byte or invalid UTF-8.</summary>
    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (_carryLength == 0)
        {
            Scan(bytes, _offset);
            return;
        }
        int total = _carryLength + bytes.Length;
        if (_joined is null || _joined.Length < total) _joined = new byte[Math.Max(total, 1 << 16)];
        _carry.AsSpan(0, _carryLength).CopyTo(_joined);
        bytes.CopyTo(_joined.AsSpan(_carryLength));
        long start = _offset - _carryLength;
        _carryLength = 0;
        Scan(_joined.AsSpan(0, total), start);
    }

    /// <summary>The end of the file: a multi-byte sequence still open is invalid UTF-8.</summary>
    public void Complete()
    {
        if (_carryLength > 0) throw InvalidUtf8(_offset - _carryLength);
    }

    // bytes start at file offset `start`; a sequence cut off at the end is carried into the next piece.
    void Scan(ReadOnlySpan<byte> bytes, long start)
    {
        int complete = CompleteLength(bytes);
        var body = bytes[..complete];
        int nul = body.IndexOf((byte)0);
        if (!Utf8.IsValid(body))
        {
            int bad = FirstInvalid(body);
            if (nul < 0 || bad < nul) throw InvalidUtf8(start + bad);
        }
        if (nul >= 0) throw new ArgumentException($"{path}: NUL byte at offset {start + nul}; expected UTF-8 text, this looks like a binary file");
        bytes[complete..].CopyTo(_carry);
        _carryLength = bytes.Length - complete;
        _offset = start + bytes.Length;
    }

    // Length of the prefix that ends on a sequence boundary: a lead byte in the last 3 whose sequence runs past the end is cut.
    static int CompleteLength(ReadOnlySpan<byte> bytes)
    {
        for (int back = 1; back <= Math.Min(3, bytes.Length); back++)
        {
            byte b = bytes[^back];
            if ((b & 0xC0) == 0x80) continue;                        // a continuation byte: look further back
            int needed = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
            return needed > back ? bytes.Length - back : bytes.Length;
        }
        return bytes.Length;                                          // only continuation bytes at the end: invalid, found by the check
    }

    static int FirstInvalid(ReadOnlySpan<byte> bytes)
    {
        int i = 0;
        while (i < bytes.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(bytes[i..], out _, out int consumed) != System.Buffers.OperationStatus.Done) return i;
            i += consumed;
        }
        return bytes.Length;
    }

    ArgumentException InvalidUtf8(long offset) =>
        new($"{path}: invalid UTF-8 at byte offset {offset}; expected UTF-8 text (a binary file, or another encoding?)");
}
