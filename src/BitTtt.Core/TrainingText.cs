using System.Text;

namespace BitTtt;

/// <summary>
/// Opens a training text so that no input can make a reader run forever: it must be a regular, non-empty
/// file within <see cref="BitLlamaLoadLimits.MaxTrainingTextBytes"/>, and the reader stops at the length the
/// file had when it was opened (a file that keeps growing, like one fed by <c>yes &gt; file</c>, is read up to there).
/// A device such as <c>/dev/zero</c> or a FIFO reports length 0 and is rejected before it is opened, so opening
/// never blocks on a pipe without a writer.
/// </summary>
public static class TrainingText
{
    public static StreamReader Open(string path, BitLlamaLoadLimits? limits = null)
    {
        limits ??= BitLlamaLoadLimits.Default;
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: training text not found", path);
        long length = new FileInfo(path).Length;
        if (length == 0)
            throw new ArgumentException($"{path}: no text to train on: the file is empty, or not a regular file (a device, pipe or FIFO cannot be trained on)");
        if (length > limits.MaxTrainingTextBytes)
            throw new ArgumentException($"{path}: the training text is {length} bytes, more than the {limits.MaxTrainingTextBytes}-byte limit (BitLlamaLoadLimits.MaxTrainingTextBytes)");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return new StreamReader(new BoundedStream(stream, length), Encoding.UTF8, detectEncodingFromByteOrderMarks: true, 1 << 16, leaveOpen: false);
    }

    /// <summary>Reads at most <c>length</c> bytes of the inner stream, then reports the end.</summary>
    sealed class BoundedStream(Stream inner, long bound) : Stream
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
