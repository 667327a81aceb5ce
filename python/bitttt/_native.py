"""ctypes bindings of the C ABI in bitttt.h (ABI 2): the shared library, its prototypes and errors.

Every call returns a status; a nonzero one becomes a Python exception carrying the .NET message from
bitttt_last_error (thread-local, so read on the calling thread right after the failing call).
"""
import ctypes
import os
import sys
import threading

ABI_VERSION = 2

OK, E_INVALID_ARGUMENT, E_INVALID_HANDLE, E_NOT_FOUND, E_FORMAT, E_BUSY, E_BUFFER_TOO_SMALL, \
    E_IO, E_OUT_OF_MEMORY, E_UNSUPPORTED, E_INTERNAL = range(11)


class BitTttError(Exception):
    """An error reported by the engine; ``status`` is the BITTTT_E_* code, the message is .NET's."""

    def __init__(self, message, status=E_INTERNAL):
        super().__init__(message)
        self.status = status


class InvalidArgumentError(BitTttError, ValueError):
    """A bad argument: out-of-range token id, invalid sampling option, invalid UTF-8, ..."""


class InvalidHandleError(BitTttError, ValueError):
    """A closed (freed) model or session, or a handle of the wrong kind."""


class ModelNotFoundError(BitTttError, FileNotFoundError):
    """A model, weights, tokenizer or memory file that does not exist."""


class ModelFormatError(BitTttError, ValueError):
    """A file that does not match its format (docs/model.md §4): truncated, corrupt, wrong shapes, another model's memory."""


class SessionBusyError(BitTttError, RuntimeError):
    """Two calls at once on one session; use one session per thread."""


class UnsupportedError(BitTttError, RuntimeError):
    """An operation this model cannot do, e.g. text generation on a model loaded without a tokenizer."""


class EngineIOError(BitTttError, OSError):
    """A file could not be read or written."""


class EngineMemoryError(BitTttError, MemoryError):
    """The engine ran out of memory."""


_ERRORS = {
    E_INVALID_ARGUMENT: InvalidArgumentError,
    E_INVALID_HANDLE: InvalidHandleError,
    E_NOT_FOUND: ModelNotFoundError,
    E_FORMAT: ModelFormatError,
    E_BUSY: SessionBusyError,
    E_BUFFER_TOO_SMALL: InvalidArgumentError,
    E_IO: EngineIOError,
    E_OUT_OF_MEMORY: EngineMemoryError,
    E_UNSUPPORTED: UnsupportedError,
}


class Sampling(ctypes.Structure):
    """bitttt_sampling (48 bytes on 64-bit platforms): the engine's SamplingOptions, each field named as the Python keyword."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("max_tokens", ctypes.c_int32),
        ("temperature", ctypes.c_float),
        ("top_k", ctypes.c_int32),
        ("top_p", ctypes.c_float),
        ("repetition_penalty", ctypes.c_float),
        ("has_seed", ctypes.c_int32),
        ("seed", ctypes.c_int32),
        ("stop_strings", ctypes.POINTER(ctypes.c_char_p)),
        ("stop_count", ctypes.c_size_t),
    ]


class ModelInfo(ctypes.Structure):
    """bitttt_model_info."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("vocab_size", ctypes.c_int32),
        ("hidden_dim", ctypes.c_int32),
        ("num_layers", ctypes.c_int32),
        ("tokenizer_vocab_size", ctypes.c_int32),
        ("bos_id", ctypes.c_int32),
        ("eos_id", ctypes.c_int32),
    ]


# int (*)(void *user_data, const char *piece, size_t length): nonzero = continue
PIECE_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)

_u64, _i32, _sz, _cp, _vp = ctypes.c_uint64, ctypes.c_int32, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p
_PROTOTYPES = {
    "bitttt_abi_version": (ctypes.c_uint32, []),
    "bitttt_last_error": (_cp, []),
    "bitttt_model_load": (_i32, [_cp, ctypes.c_uint32, ctypes.POINTER(_u64)]),
    "bitttt_model_from_config": (_i32, [_cp, _cp, _cp, ctypes.c_uint32, ctypes.POINTER(_u64)]),
    "bitttt_model_free": (_i32, [_u64]),
    "bitttt_model_get_info": (_i32, [_u64, ctypes.POINTER(ModelInfo)]),
    "bitttt_model_config_json": (_i32, [_u64, _vp, _sz, ctypes.POINTER(_sz)]),
    "bitttt_encode": (_i32, [_u64, _cp, _sz, _vp, _sz, ctypes.POINTER(_sz)]),
    "bitttt_decode": (_i32, [_u64, _vp, _sz, _vp, _sz, ctypes.POINTER(_sz)]),
    "bitttt_session_create": (_i32, [_u64, ctypes.POINTER(_u64)]),
    "bitttt_session_free": (_i32, [_u64]),
    "bitttt_session_reset": (_i32, [_u64]),
    "bitttt_session_position": (_i32, [_u64, ctypes.POINTER(ctypes.c_int64)]),
    "bitttt_session_feed": (_i32, [_u64, _vp, _sz, _vp, _sz]),
    "bitttt_session_learn": (_i32, [_u64, _cp, _sz]),
    "bitttt_session_save_memory": (_i32, [_u64, _cp]),
    "bitttt_session_load_memory": (_i32, [_u64, _cp]),
    "bitttt_sampling_init": (_i32, [ctypes.POINTER(Sampling)]),
    "bitttt_model_sampling": (_i32, [_u64, ctypes.POINTER(Sampling)]),
    "bitttt_generate": (_i32, [_u64, _cp, _sz, ctypes.POINTER(Sampling), PIECE_FN, _vp]),
    "bitttt_corpus_prepare": (_i32, [_cp, _vp, _sz, ctypes.POINTER(_sz)]),
    "bitttt_chat": (_i32, [_u64, _cp, _sz, ctypes.POINTER(Sampling), PIECE_FN, _vp]),
}


def _library_names():
    if sys.platform == "win32":
        return ["bitttt.dll"]
    if sys.platform == "darwin":
        return ["libbitttt.dylib"]
    return ["libbitttt.so"]


def _find_library():
    explicit = os.environ.get("BITTTT_LIBRARY")
    if explicit:
        return explicit
    here = os.path.dirname(os.path.abspath(__file__))
    for name in _library_names():
        candidate = os.path.join(here, name)
        if os.path.exists(candidate):
            return candidate
    raise ImportError(
        "bitttt: the native engine library (%s) is not next to %s; install the wheel built by "
        "python/build.sh, or set BITTTT_LIBRARY to its path" % (" or ".join(_library_names()), here))


# CPU flags (Linux /proc/cpuinfo names) each NativeAOT instruction set needs beyond what every x64 CPU has.
_ISA_FLAGS = {"x86-64-v3": ["avx", "avx2", "bmi1", "bmi2", "fma", "f16c", "movbe"]}


def _check_cpu(path):
    """A library compiled for x86-64-v3 on a CPU without AVX2 would stop the process; say so instead."""
    try:
        from ._build_info import INSTRUCTION_SET
    except ImportError:
        return
    needed = _ISA_FLAGS.get(INSTRUCTION_SET)
    if not needed or not sys.platform.startswith("linux"):
        return
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), None)
    except OSError:
        return
    missing = [x for x in needed if flags is not None and x not in flags]
    if missing:
        raise ImportError("bitttt: %s was compiled for %s, but this CPU lacks %s; rebuild the wheel with "
                          "BITTTT_ISA=x86-64-v2 bash python/build.sh" % (path, INSTRUCTION_SET, ", ".join(missing)))


_lib = None
_lock = threading.Lock()
_forked = False


def _after_fork_in_child():
    # The .NET runtime inside the library does not survive fork(): its GC and thread-pool threads are not
    # copied, so the first call in the child would hang. Fail fast with a message instead.
    global _forked
    _forked = _lib is not None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def usable():
    """True when the library is loaded in this process (not inherited through fork); for finalizers."""
    return _lib is not None and not _forked


def lib():
    """The loaded library with its prototypes declared (loaded once, on first use)."""
    global _lib
    if _forked:
        raise BitTttError("bitttt: this process was forked after the engine was loaded, and the engine (a .NET "
                          "runtime) cannot run in a forked child; use multiprocessing.get_context('spawn') or "
                          "'forkserver' and load the model in the child")
    if _lib is None:
        with _lock:
            if _lib is None:
                path = _find_library()
                if not os.environ.get("BITTTT_LIBRARY"):
                    _check_cpu(path)
                loaded = ctypes.CDLL(path)
                for name, (restype, argtypes) in _PROTOTYPES.items():
                    fn = getattr(loaded, name)
                    fn.restype, fn.argtypes = restype, argtypes
                version = loaded.bitttt_abi_version()
                if version != ABI_VERSION:
                    raise ImportError("bitttt: %s has ABI version %d, this package needs %d" % (path, version, ABI_VERSION))
                _lib = loaded
    return _lib


def check(status):
    """Raises the exception for a nonzero status with the engine's message."""
    if status == OK:
        return
    message = lib().bitttt_last_error()
    text = message.decode("utf-8", "replace") if message else "error %d" % status
    raise _ERRORS.get(status, BitTttError)(text, status)


def call(name, *args):
    check(getattr(lib(), name)(*args))


def path_arg(path, what):
    """A file path argument as UTF-8 bytes (str or os.PathLike)."""
    try:
        text = os.fspath(path)
    except TypeError:
        raise TypeError("%s must be a str or os.PathLike path, got %s" % (what, type(path).__name__)) from None
    if isinstance(text, bytes):
        return text
    return text.encode("utf-8", "surrogateescape")


def text_arg(text, what):
    if not isinstance(text, str):
        raise TypeError("%s must be a str, got %s" % (what, type(text).__name__))
    return text.encode("utf-8", "surrogatepass")


def read_string(fn, *args):
    """Calls a (buffer, capacity, *length) function, growing the buffer when the text does not fit."""
    capacity = 4096
    while True:
        buffer = ctypes.create_string_buffer(capacity)
        length = ctypes.c_size_t(0)
        status = fn(*args, buffer, capacity, ctypes.byref(length))
        if status == E_BUFFER_TOO_SMALL and length.value + 1 > capacity:
            capacity = length.value + 1
            continue
        check(status)
        return buffer.raw[:length.value].decode("utf-8")
