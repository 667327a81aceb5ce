"""The high-level API: Llama (a loaded model) and Session (one sequence's TTT memory)."""
import ctypes
import json
import threading
from array import array

from . import _native
from ._native import call, lib

try:  # numpy is optional: logits are a numpy array when it is importable, else array('f')
    import numpy as _np
except ImportError:  # pragma: no cover - depends on the environment
    _np = None

INT8_LM_HEAD = 1
FP32_LM_HEAD = 2
NO_BATCHING = 4
_INT32_MIN, _INT32_MAX = -(2 ** 31), 2 ** 31 - 1


def _new_logits(count):
    """A float32 buffer of ``count`` values and its address."""
    if _np is not None:
        out = _np.empty(count, dtype=_np.float32)
        return out, out.ctypes.data
    out = array("f", bytes(4 * count))
    return out, out.buffer_info()[0]


def _token_ids(tokens):
    if isinstance(tokens, (str, bytes)):
        raise TypeError("tokens must be a sequence of int token ids, got %s (use encode() for text)" % type(tokens).__name__)
    ids = list(tokens)
    for i, t in enumerate(ids):
        if isinstance(t, bool) or not hasattr(t, "__index__"):
            raise TypeError("token %d must be an int, got %s" % (i, type(t).__name__))
        t = t.__index__()
        if not _INT32_MIN <= t <= _INT32_MAX:
            raise _native.InvalidArgumentError("token id %d at position %d does not fit in int32" % (t, i), _native.E_INVALID_ARGUMENT)
        ids[i] = t
    return (ctypes.c_int32 * len(ids))(*ids), len(ids)


# The keywords of complete() / stream_completion(): the engine's SamplingOptions in snake case, which are also the
# bitttt_sampling fields (stop -> stop_strings). None keeps the model's default (bitttt_model_sampling).
_SAMPLING_KEYWORDS = (("max_tokens", int), ("temperature", float), ("top_k", int), ("top_p", float),
                      ("repetition_penalty", float))


def _flags(int8_lm_head, batching):
    """bitttt.h's load flags: the int8 LM head and batching are the library's defaults; False asks for the other."""
    return (0 if int8_lm_head else FP32_LM_HEAD) | (0 if batching else NO_BATCHING)


def _model_sampling(model_handle):
    """The model's generation defaults (bitttt_model_sampling)."""
    s = _native.Sampling()
    call("bitttt_model_sampling", model_handle, ctypes.byref(s))
    return s


def _sampling(defaults, stop=None, seed=None, **values):
    """A copy of ``defaults`` (the model's) with the given keywords set; the engine checks every value against its
    rule and names the keyword in the error."""
    s = _native.Sampling.from_buffer_copy(defaults)
    for name, kind in _SAMPLING_KEYWORDS:
        value = values.pop(name, None)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            raise TypeError("%s must be %s, got %r" % (name, "an int" if kind is int else "a number", value))
        if kind is int and not _INT32_MIN <= value <= _INT32_MAX:
            raise _native.InvalidArgumentError("%s %d does not fit in int32" % (name, value), _native.E_INVALID_ARGUMENT)
        setattr(s, name, kind(value))
    if values:
        raise TypeError("unexpected keyword argument %r (sampling keywords: %s, seed, stop)"
                        % (sorted(values)[0], ", ".join(n for n, _ in _SAMPLING_KEYWORDS)))
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError("seed must be an int or None, got %r" % (seed,))
        s.has_seed, s.seed = 1, ((seed - _INT32_MIN) % 2 ** 32) + _INT32_MIN   # any int, folded into int32
    if isinstance(stop, str):
        stop = [stop]
    stops = [_native.text_arg(x, "stop string") for x in (stop or ())]
    keep = (ctypes.c_char_p * max(1, len(stops)))(*stops)
    s.stop_strings = ctypes.cast(keep, ctypes.POINTER(ctypes.c_char_p))
    s.stop_count = len(stops)
    return s, keep


class _Handle:
    """A native handle freed once: by close(), by leaving a with-block, or by the garbage collector."""

    _free = None   # the native function that frees this kind of handle

    def close(self):
        if not self._closed:
            self._closed = True
            call(self._free, self._handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if not self._closed and _native.usable():
                self._closed = True
                getattr(_native._lib, self._free)(self._handle)
        except Exception:
            pass


class Session(_Handle):
    """One sequence's TTT memory over a shared model. Use one session per thread; sessions of one model
    run in parallel. Every completion continues the memory (the prompt and the output are learned)."""

    _free = "bitttt_session_free"

    def __init__(self, model):
        self._model = model
        handle = ctypes.c_uint64(0)
        call("bitttt_session_create", model._handle, ctypes.byref(handle))
        self._handle = handle.value
        self._closed = False
        self._defaults = model._defaults   # kept: a session outlives its model's handle

    @property
    def model(self):
        return self._model

    @property
    def position(self):
        """Tokens the memory has consumed since the last reset or load."""
        out = ctypes.c_int64(0)
        call("bitttt_session_position", self._handle, ctypes.byref(out))
        return out.value

    def feed(self, tokens):
        """Feeds token ids (advancing the memory) and returns the logits after the last one (vocab_size floats)."""
        ids, n = _token_ids(tokens)
        logits, address = _new_logits(self._model.vocab_size)
        call("bitttt_session_feed", self._handle, ids, n, address, len(logits))
        return logits

    def forward(self, token_id):
        """One token in, the next-token logits out (the seed's ``forward(token_id=...)``)."""
        return self.feed([token_id])

    def learn(self, text):
        """Advances the memory on ``text`` without generating."""
        data = _native.text_arg(text, "text")
        call("bitttt_session_learn", self._handle, data, len(data))

    def reset(self):
        """Forgets everything: the TTT state back to zero, position 0."""
        call("bitttt_session_reset", self._handle)

    def save_memory(self, path):
        call("bitttt_session_save_memory", self._handle, _native.path_arg(path, "path"))

    def load_memory(self, path):
        call("bitttt_session_load_memory", self._handle, _native.path_arg(path, "path"))

    def stream_completion(self, prompt, max_tokens=None, temperature=None, callback=None, **options):
        """Streams the completion of ``prompt``: ``callback(piece)`` gets each piece (whole UTF-8 characters)
        and returns False to stop. Returns the text generated. An exception raised by the callback stops
        generation and is re-raised here once the engine has returned. Sampling keywords left None keep the
        model's defaults (``sampling_defaults``)."""
        return self._generate(prompt, callback, max_tokens=max_tokens, temperature=temperature, **options)

    def complete(self, prompt, max_tokens=None, temperature=None, top_k=None, top_p=None,
                 repetition_penalty=None, seed=None, stop=None):
        """The whole completion of ``prompt`` as one string (stops at max_tokens, end of sequence or a stop string).
        Sampling keywords left None keep the model's defaults (``sampling_defaults``)."""
        return self._generate(prompt, None, max_tokens=max_tokens, temperature=temperature, top_k=top_k,
                              top_p=top_p, repetition_penalty=repetition_penalty, seed=seed, stop=stop)

    def chat(self, messages, max_tokens=None, temperature=None, callback=None, **options):
        """The model's reply to ``messages`` (the OpenAI form: a list of ``{"role": "system"|"user"|"assistant",
        "content": "..."}``), as every chat door gives it (docs/model.md §6): with the model's chat template the reply
        ends at its end-of-turn token; a model without one is asked in the plain-text format. The session keeps the
        messages and the reply, so a conversation that continues passes only its new messages. ``callback(piece)`` and
        the sampling keywords are those of ``stream_completion``. Returns the reply's text."""
        if isinstance(messages, (str, bytes)) or not hasattr(messages, "__iter__"):
            raise TypeError("messages must be a list of {'role': ..., 'content': ...} dicts, got %s" % type(messages).__name__)
        data = json.dumps(list(messages), ensure_ascii=False).encode("utf-8")
        return self._run("bitttt_chat", data, callback, max_tokens=max_tokens, temperature=temperature, **options)

    def _generate(self, prompt, callback, **options):
        return self._run("bitttt_generate", _native.text_arg(prompt, "prompt"), callback, **options)

    def _run(self, function, data, callback, **options):
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable, got %s" % type(callback).__name__)
        sampling, keep = _sampling(self._defaults, **options)
        pieces, raised = [], []

        def on_piece(_user, pointer, length):
            try:
                piece = ctypes.string_at(pointer, length).decode("utf-8")
                pieces.append(piece)
                if callback is None:
                    return 1
                return 0 if callback(piece) is False else 1
            except BaseException as e:  # stop the engine cleanly; re-raised below
                raised.append(e)
                return 0

        fn = _native.PIECE_FN(on_piece)
        status = getattr(lib(), function)(self._handle, data, len(data), ctypes.byref(sampling), fn, None)
        del keep
        if raised:
            raise raised[0]
        _native.check(status)
        return "".join(pieces)

    def close(self):
        """Frees the session; using it afterwards raises InvalidHandleError."""
        _Handle.close(self)


class Llama(_Handle):
    """A loaded BitLlama model (weights shared by all its sessions). The convenience methods use one
    default session and, like a session, must not be called from two threads at once."""

    _free = "bitttt_model_free"

    def __init__(self, handle):
        self._handle = handle
        self._closed = False
        self._default = None
        self._default_lock = threading.Lock()
        info = _native.ModelInfo(struct_size=ctypes.sizeof(_native.ModelInfo))
        try:
            call("bitttt_model_get_info", handle, ctypes.byref(info))
            self._defaults = _model_sampling(handle)
        except BaseException:
            self._closed = True
            lib().bitttt_model_free(handle)
            raise
        self.vocab_size = info.vocab_size
        self.hidden_dim = info.hidden_dim
        self.num_layers = info.num_layers
        self.tokenizer_vocab_size = info.tokenizer_vocab_size
        self.bos_id = None if info.bos_id < 0 else info.bos_id
        self.eos_id = None if info.eos_id < 0 else info.eos_id

    @classmethod
    def load_auto(cls, path, int8_lm_head=True, batching=True):
        """Loads a ``.bitt`` file or a model directory (config.json + tokenizer.json + model.safetensors)."""
        handle = ctypes.c_uint64(0)
        call("bitttt_model_load", _native.path_arg(path, "path"), _flags(int8_lm_head, batching), ctypes.byref(handle))
        return cls(handle.value)

    @classmethod
    def from_config(cls, config, safetensors_path, tokenizer_path=None, int8_lm_head=True, batching=True):
        """A model from a config (dict or JSON text, docs/model.md §1), a bare safetensors file and optionally a tokenizer.json."""
        text = config if isinstance(config, str) else json.dumps(config)
        tok = None if tokenizer_path is None else _native.path_arg(tokenizer_path, "tokenizer_path")
        handle = ctypes.c_uint64(0)
        call("bitttt_model_from_config", _native.text_arg(text, "config"), _native.path_arg(safetensors_path, "safetensors_path"),
             tok, _flags(int8_lm_head, batching), ctypes.byref(handle))
        return cls(handle.value)

    @property
    def has_tokenizer(self):
        return self.tokenizer_vocab_size > 0

    @property
    def sampling_defaults(self):
        """What a completion uses for every keyword left None: the generation defaults the model file stores,
        else the library's, as a dict of the keywords (``seed`` None: a fresh seed per completion)."""
        s = self._defaults
        values = {name: getattr(s, name) for name, _ in _SAMPLING_KEYWORDS}
        values["seed"] = s.seed if s.has_seed else None
        return values

    @property
    def config(self):
        """The model's config as a dict (every field, defaults filled in)."""
        return json.loads(_native.read_string(lib().bitttt_model_config_json, self._handle))

    def encode(self, text):
        data = _native.text_arg(text, "text")
        capacity = len(data) + 16
        while True:
            ids = (ctypes.c_int32 * capacity)()
            count = ctypes.c_size_t(0)
            status = lib().bitttt_encode(self._handle, data, len(data), ids, capacity, ctypes.byref(count))
            if status == _native.E_BUFFER_TOO_SMALL and count.value > capacity:
                capacity = count.value
                continue
            _native.check(status)
            return list(ids[:count.value])

    def decode(self, ids):
        arr, n = _token_ids(ids)
        return _native.read_string(lib().bitttt_decode, self._handle, arr, n)

    def session(self):
        """A new session with its own (empty) TTT memory."""
        return Session(self)

    create_session = session

    def _session(self):
        with self._default_lock:
            if self._default is None:
                self._default = Session(self)
            return self._default

    def stream_completion(self, prompt, max_tokens=None, temperature=None, callback=None, **options):
        return self._session().stream_completion(prompt, max_tokens, temperature, callback, **options)

    def complete(self, prompt, max_tokens=None, temperature=None, top_k=None, top_p=None,
                 repetition_penalty=None, seed=None, stop=None):
        return self._session().complete(prompt, max_tokens, temperature, top_k, top_p, repetition_penalty, seed, stop)

    def chat(self, messages, max_tokens=None, temperature=None, callback=None, **options):
        """The reply to the whole conversation ``messages`` in a fresh session (as a client that sends the whole history
        each time); see ``Session.chat``, whose memory keeps a conversation between calls."""
        with self.session() as s:
            return s.chat(messages, max_tokens, temperature, callback, **options)

    @property
    def chat_template(self):
        """The chat template the model stores (config field ``chat``: its role and end-of-turn tokens), or None."""
        return self.config.get("chat")

    def feed(self, tokens):
        return self._session().feed(tokens)

    def forward(self, token_id):
        return self._session().forward(token_id)

    def learn(self, text):
        self._session().learn(text)

    def reset(self):
        self._session().reset()

    def save_memory(self, path):
        self._session().save_memory(path)

    def load_memory(self, path):
        self._session().load_memory(path)

    def close(self):
        """Frees the model handle and its default session; sessions created from it keep working until closed."""
        if self._closed:
            return
        if self._default is not None:
            self._default.close()
        _Handle.close(self)
