"""The model's files read and written from Python with the standard library only: safetensors (docs/model.md §4.1),
.bitt (§4.3) and tokens.bin (the trainer's tokenized corpus). Every file is written to a temporary name beside
its target and renamed, so a crash or an error never leaves a torn file under the final name.

Why hand-written: there is no PyPI here and Debian ships no python3-safetensors; the formats are a JSON header
and raw little-endian data, and these readers apply the same checks as the .NET readers (BitTtt.Formats).
"""
import json
import os
import struct
import sys
import tempfile

# Binary format (safetensors, docs/model.md §4.1); integers little-endian:
#   N        u64       header length in bytes; readers reject N > 100 MB or N past the end of the file
#   header   N bytes   UTF-8 JSON object, padded with spaces to a multiple of 8 by writers:
#                        { "__metadata__": { "key": "value", ... },              optional, string -> string
#                          "<name>": { "dtype": "F32" | "F16" | "BF16",
#                                      "shape": [d0, d1, ...],
#                                      "data_offsets": [begin, end] }, ... }      relative to the buffer
#   buffer   to EOF    tensor data, row-major; the tensors tile the buffer exactly (no gap, no overlap).
MAX_HEADER_BYTES = 100 * 1024 * 1024
DTYPE_SIZES = {"F32": 4, "F16": 2, "BF16": 2}

# Binary format (.bitt, docs/model.md §4.3): "BITT", u64 header length, UTF-8 JSON {"config": {...},
# "tokenizer": {...}}, then a complete safetensors file to the end.
BITT_MAGIC = b"BITT"

# Binary format (tokens.bin), little-endian: "BTOK", u32 version = 1, u64 count, count × i32 token ids.
TOKENS_MAGIC = b"BTOK"
TOKENS_HEADER = 16


class FormatError(ValueError):
    """A file that breaks its format; the message names the file and what was found and expected."""


def atomic_write(path, write):
    """Calls write(file) on a temporary file beside path, flushes it to disk, then renames it over path."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def write_text(path, text):
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _check_little_endian():
    if sys.byteorder != "little":
        raise RuntimeError("safetensors data is little-endian; this writer needs a little-endian CPU")


def safetensors_header(tensors, metadata=None):
    """The space-padded header bytes for [(name, shape, nbytes)] laid out in order."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, shape, nbytes in tensors:
        header[name] = {"dtype": "F32", "shape": [int(s) for s in shape], "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return raw + b" " * (-len(raw) % 8)


def write_safetensors_to(f, tensors, metadata=None):
    """tensors: [(name, shape, F32 little-endian bytes)], written in that order."""
    _check_little_endian()
    header = safetensors_header([(n, s, len(b)) for n, s, b in tensors], metadata)
    f.write(struct.pack("<Q", len(header)))
    f.write(header)
    for _, _, data in tensors:
        f.write(data)


def write_safetensors(path, tensors, metadata=None):
    atomic_write(path, lambda f: write_safetensors_to(f, tensors, metadata))


def write_bitt(path, config_dict, tokenizer_json, tensors):
    """A .bitt file: config (a dict), the tokenizer.json text (or None) and the F32 tensors."""
    header = {"config": config_dict}
    if tokenizer_json is not None:
        header["tokenizer"] = json.loads(tokenizer_json)
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def write(f):
        f.write(BITT_MAGIC + struct.pack("<Q", len(raw)))
        f.write(raw)
        write_safetensors_to(f, tensors)
    atomic_write(path, write)


class SafeTensors:
    """A safetensors file read whole: tensors[name] = (dtype, shape, memoryview of its bytes); metadata dict."""

    def __init__(self, path, data, offset=0):
        self.path = path
        size = len(data) - offset
        if size < 8:
            raise FormatError("%s: %d bytes, shorter than the 8-byte safetensors header length" % (path, size))
        (n,) = struct.unpack_from("<Q", data, offset)
        if n > MAX_HEADER_BYTES or n > size - 8:
            raise FormatError("%s: safetensors header length %d exceeds %s (truncated or not a safetensors file?)"
                              % (path, n, "the 100 MB limit" if n > MAX_HEADER_BYTES else "the file size %d" % size))
        try:
            header = json.loads(bytes(data[offset + 8:offset + 8 + n]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise FormatError("%s: safetensors header is not valid UTF-8 JSON (%s)" % (path, e)) from None
        if not isinstance(header, dict):
            raise FormatError("%s: safetensors header must be a JSON object" % path)
        self.metadata = header.pop("__metadata__", None) or {}
        buffer = memoryview(data)[offset + 8 + n:]
        self.tensors = {}
        spans = []
        for name, info in header.items():
            try:
                dtype, shape, (begin, end) = info["dtype"], [int(s) for s in info["shape"]], info["data_offsets"]
            except (KeyError, TypeError, ValueError):
                raise FormatError("%s: tensor '%s' lacks dtype, shape or data_offsets" % (path, name)) from None
            if dtype not in DTYPE_SIZES:
                raise FormatError("%s: tensor '%s' has dtype %s; F32, F16 and BF16 are read" % (path, name, dtype))
            count = 1
            for s in shape:
                count *= s
            if not (0 <= begin <= end <= len(buffer)) or end - begin != count * DTYPE_SIZES[dtype] or min(shape, default=0) < 0:
                raise FormatError("%s: tensor '%s' %s %s has data_offsets [%d, %d] in a %d-byte buffer"
                                  % (path, name, dtype, shape, begin, end, len(buffer)))
            spans.append((begin, end, name))
            self.tensors[name] = (dtype, shape, buffer[begin:end])
        position = 0
        for begin, end, name in sorted(spans):
            if begin != position:
                raise FormatError("%s: tensor '%s' starts at %d, expected %d (a gap or an overlap)" % (path, name, begin, position))
            position = end
        if position != len(buffer):
            raise FormatError("%s: %d bytes after the last tensor" % (path, len(buffer) - position))


def read_safetensors(path):
    with open(path, "rb") as f:
        return SafeTensors(path, f.read())


def read_bitt(path):
    """(config dict, tokenizer.json text or None, SafeTensors) of a .bitt file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != BITT_MAGIC:
        raise FormatError("%s: not a .bitt file: expected magic 'BITT', found %r" % (path, bytes(data[:4])))
    if len(data) < 12:
        raise FormatError("%s: %d bytes, shorter than the 12-byte .bitt preamble" % (path, len(data)))
    (n,) = struct.unpack_from("<Q", data, 4)
    if n > MAX_HEADER_BYTES or 12 + n > len(data):
        raise FormatError("%s: .bitt header length %d runs past the end of the %d-byte file (truncated download?)" % (path, n, len(data)))
    try:
        header = json.loads(data[12:12 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError("%s: .bitt header is not valid UTF-8 JSON (%s)" % (path, e)) from None
    if not isinstance(header, dict) or not isinstance(header.get("config"), dict):
        raise FormatError("%s: header has no 'config' (expected {\"config\": {...}, \"tokenizer\": {...}})" % path)
    if header.get("packing") is not None:
        raise FormatError("%s: a packed .bitt (packing %s) holds 2-bit ternary codes and int8 rows, not the fp32 weights the "
                          "PyTorch twin trains and runs (docs/format.md §7); use the fp32 .bitt it was packed from "
                          "(bitttt.Llama, the NativeAOT engine, reads both)" % (path, header.get("packing")))
    tokenizer = header.get("tokenizer")
    return header["config"], (json.dumps(tokenizer, ensure_ascii=False) if tokenizer is not None else None), \
        SafeTensors(path, data, 12 + n)


def write_tokens(path, ids):
    """tokens.bin from an array('i') or any buffer of little-endian int32 ids."""
    _check_little_endian()
    data = memoryview(ids).cast("B")
    atomic_write(path, lambda f: (f.write(TOKENS_MAGIC + struct.pack("<IQ", 1, len(data) // 4)), f.write(data)))


def tokens_count(path):
    """Checks tokens.bin's header against its size and returns the number of ids."""
    return tokens_info(path)[1]


def tokens_info(path):
    """(version, count) of tokens.bin after checking its header against its size: version 1 holds ids (a text),
    version 2 ids then one flag byte per token (examples: bit 0 = the loss counts the token, bit 1 = an example starts)."""
    if not os.path.isfile(path):
        raise FileNotFoundError("%s: token file not found" % path)
    length = os.path.getsize(path)
    with open(path, "rb") as f:
        header = f.read(TOKENS_HEADER)
    if len(header) < TOKENS_HEADER:
        raise FormatError("%s: file is %d bytes, shorter than the %d-byte token file header" % (path, length, TOKENS_HEADER))
    if header[:4] != TOKENS_MAGIC:
        raise FormatError("%s: not a token file (magic is not \"BTOK\")" % path)
    version, count = struct.unpack_from("<IQ", header, 4)
    if version not in (1, 2):
        raise FormatError("%s: token file version %d is not supported (expected 1 or 2)" % (path, version))
    per_token = 4 if version == 1 else 5
    if TOKENS_HEADER + count * per_token != length:
        raise FormatError("%s: header says %d tokens (%d bytes) but the file is %d bytes (truncated or corrupt)"
                          % (path, count, TOKENS_HEADER + count * per_token, length))
    return version, count
