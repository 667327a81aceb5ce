"""BitLlama (BitNet b1.58 + test-time training) on the project's managed CPU engine, compiled with
NativeAOT into one shared library: no .NET install needed. Stdlib only (ctypes); numpy is used for
logits when it is importable.

    import bitttt
    llama = bitttt.Llama.load_auto("model.bitt")
    llama.stream_completion("Call me", 50, 0.8, lambda piece: print(piece, end=""))   # return False to stop
"""
from ._llama import FP32_LM_HEAD, INT8_LM_HEAD, NO_BATCHING, Llama, Session
from ._native import (ABI_VERSION, BitTttError, EngineIOError, EngineMemoryError, InvalidArgumentError,
                      InvalidHandleError, ModelFormatError, ModelNotFoundError, SessionBusyError, UnsupportedError)

try:
    from ._build_info import VERSION as __version__   # written by python/build.sh from Directory.Build.props
except ImportError:   # a checkout python/build.sh has not built: no library either
    __version__ = "0+unbuilt"


def abi_version():
    """The ABI version of the loaded native library (bitttt_abi_version)."""
    from ._native import lib
    return lib().bitttt_abi_version()


__all__ = [
    "Llama", "Session", "INT8_LM_HEAD", "FP32_LM_HEAD", "NO_BATCHING", "ABI_VERSION", "abi_version", "BitTttError", "InvalidArgumentError",
    "InvalidHandleError", "ModelNotFoundError", "ModelFormatError", "SessionBusyError", "UnsupportedError",
    "EngineIOError", "EngineMemoryError",
]
