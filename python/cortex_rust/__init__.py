"""The original Bit-TTT Engine's Python API (``import cortex_rust``), on the bitttt engine:

    import cortex_rust
    config = cortex_rust.BitLlamaConfig(16384, 256, 8, 0.1)    # vocab_size, hidden_dim, num_layers, inner_lr
    model = cortex_rust.BitLlama(config, "model.safetensors", device="cpu")
    logits = model.forward(token_id=42)                         # one token in, the next-token logits out

``forward`` advances the model's TTT memory, so calling it token by token equals feeding the sequence at
once. ``device="cpu"`` (the default) runs the managed engine compiled with NativeAOT. Any other device
(``"cuda"``, ``"cuda:1"``, or a ``torch.device``, e.g. ``torch.device("cpu")``) runs the PyTorch twin
(``bitttt.torch``) there when PyTorch is installed; without PyTorch it is an error rather than a silent CPU run.
"""
import json

import bitttt
from bitttt import BitTttError, Llama

__all__ = ["BitLlamaConfig", "BitLlama", "BitTttError", "Llama"]

_OPTIONAL = ("intermediate_dim", "ttt_chunk", "ttt_type", "ttt_heads", "ttt_head_dim", "ttt_conv",
             "rms_norm_eps", "context_len")


class BitLlamaConfig:
    """config.json (docs/model.md §1) built in Python. Optional fields left as None are absent from the JSON, so the
    engine applies the model contract's (docs/model.md) defaults (e.g. ttt_type "reconstruct"); unknown keyword fields are passed through."""

    def __init__(self, vocab_size, hidden_dim, num_layers, inner_lr, *, intermediate_dim=None, ttt_chunk=None,
                 ttt_type=None, ttt_heads=None, ttt_head_dim=None, ttt_conv=None, rms_norm_eps=None,
                 context_len=None, **extra):
        self.vocab_size = vocab_size
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.inner_lr = inner_lr
        self.intermediate_dim = intermediate_dim
        self.ttt_chunk = ttt_chunk
        self.ttt_type = ttt_type
        self.ttt_heads = ttt_heads
        self.ttt_head_dim = ttt_head_dim
        self.ttt_conv = ttt_conv
        self.rms_norm_eps = rms_norm_eps
        self.context_len = context_len
        self.extra = dict(extra)

    def to_dict(self):
        d = {"vocab_size": self.vocab_size, "hidden_dim": self.hidden_dim,
             "num_layers": self.num_layers, "inner_lr": self.inner_lr}
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                d[name] = value
        d.update(self.extra)
        return d

    def to_json(self):
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        required = [d.pop(k) for k in ("vocab_size", "hidden_dim", "num_layers", "inner_lr") if k in d]
        if len(required) != 4:
            raise ValueError("config needs vocab_size, hidden_dim, num_layers and inner_lr")
        return cls(*required, **d)

    @classmethod
    def from_json_file(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def __repr__(self):
        return "BitLlamaConfig(%s)" % ", ".join("%s=%r" % kv for kv in self.to_dict().items())


class BitLlama:
    """A model from a config and a bare safetensors file (docs/model.md §2 names). ``forward(token_id)`` feeds one
    token and returns the next-token logits (numpy float32 array when numpy is importable, else array('f')).
    On the CPU engine the LM head is int8 unless ``int8_lm_head=False`` (fp32 logits, as the PyTorch twin's)."""

    def __init__(self, config, path, device="cpu", tokenizer_path=None, int8_lm_head=True):
        if not isinstance(config, BitLlamaConfig):
            raise TypeError("config must be a cortex_rust.BitLlamaConfig, got %s" % type(config).__name__)
        self.config = config
        if isinstance(device, str) and device.lower() == "cpu":
            self._llama = Llama.from_config(config.to_dict(), path, tokenizer_path, int8_lm_head=int8_lm_head)
            self._session = self._llama.session()
        else:
            self._llama = None
            self._session = _TorchSession(config.to_dict(), path, device)

    @property
    def vocab_size(self):
        return self.config.vocab_size

    @property
    def device(self):
        """"cpu" for the managed engine, else the torch.device the PyTorch twin runs on."""
        return "cpu" if self._llama is not None else self._session.device

    def forward(self, token_id):
        """One token in (advancing the TTT state), the next-token logits out."""
        return self._session.forward(token_id)

    def forward_tokens(self, token_ids):
        """Several tokens in order; the logits after the last one."""
        return self._session.feed(token_ids)

    def reset_state(self):
        """Back to an empty TTT memory."""
        self._session.reset()

    def save_memory(self, path):
        self._session.save_memory(path)

    def load_memory(self, path):
        self._session.load_memory(path)

    def close(self):
        self._session.close()
        if self._llama is not None:
            self._llama.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _TorchSession:
    """The PyTorch twin (bitttt.torch) behind BitLlama's session methods: one sequence's TTT state on `device`."""

    def __init__(self, config, path, device):
        try:
            import torch
            from bitttt.torch import BitLlamaModel
        except ImportError:
            raise ValueError("device=%r: the managed engine runs on the CPU only (device=\"cpu\"); other devices run the PyTorch "
                             "twin (bitttt.torch), and PyTorch is not installed here" % (device,)) from None
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as e:
            raise ValueError("device=%r is not a torch device (%s)" % (device, e)) from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device=%r: this PyTorch sees no CUDA device (torch.cuda.is_available() is False)" % (device,))
        self._torch = torch
        self._model = BitLlamaModel.from_safetensors(config, path, self.device).eval()
        self._state = None

    def feed(self, token_ids):
        ids = [int(t) for t in token_ids]
        if not ids:
            raise ValueError("token_ids is empty")
        with self._torch.no_grad():
            logits, self._state = self._model.forward_state(self._torch.tensor([ids], device=self.device), self._state)
        return logits[0, -1].float().cpu().numpy()

    def forward(self, token_id):
        return self.feed([token_id])

    def reset(self):
        self._state = None

    def save_memory(self, path):
        raise NotImplementedError("memory files (.bttm) are the managed engine's (device=\"cpu\"); the PyTorch twin keeps its state in memory only")

    load_memory = save_memory

    def close(self):
        self._model, self._state = None, None


__version__ = bitttt.__version__
