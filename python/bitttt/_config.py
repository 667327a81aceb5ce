"""config.json (docs/model.md §1) in Python, read and written as BitTtt.Core's BitLlamaConfig does: the same defaults,
aliases, checks and canonical output, so a config round-trips between Python and .NET unchanged."""
import json
import struct

from ._files import write_text

_KNOWN = ("vocab_size", "hidden_dim", "num_layers", "inner_lr", "intermediate_dim", "ttt_chunk", "rms_norm_eps",
          "context_len", "hidden_size", "num_hidden_layers", "n_layers", "intermediate_size",
          "ttt_type", "ttt_heads", "ttt_head_dim", "ttt_conv")
_DELTA_ONLY = ("ttt_heads", "ttt_head_dim", "ttt_conv")


def float32(x):
    """x rounded to float32: config floats are float32 in the contract, so inner_lr 0.1 computes as 0.1f."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


class ConfigError(ValueError):
    """A config field that breaks docs/model.md §1; the message names the source and the field."""


class ModelConfig:
    """The model's shape and hyper-parameters. intermediate_dim 0 means 4·hidden_dim and ttt_head_dim 0 means
    hidden_dim / ttt_heads (the resolved values are ``intermediate`` and ``head_dim``)."""

    def __init__(self, vocab_size, hidden_dim, num_layers, inner_lr, intermediate_dim=0, ttt_chunk=1,
                 rms_norm_eps=1e-5, context_len=128, ttt_type="reconstruct", ttt_heads=4, ttt_head_dim=0,
                 ttt_conv=4, extra=None):
        self.vocab_size, self.hidden_dim, self.num_layers = vocab_size, hidden_dim, num_layers
        self.inner_lr, self.intermediate_dim, self.ttt_chunk = inner_lr, intermediate_dim, ttt_chunk
        self.rms_norm_eps, self.context_len, self.ttt_type = rms_norm_eps, context_len, ttt_type
        self.ttt_heads, self.ttt_head_dim, self.ttt_conv = ttt_heads, ttt_head_dim, ttt_conv
        self.extra = dict(extra or {})

    @property
    def intermediate(self):
        return self.intermediate_dim or 4 * self.hidden_dim

    @property
    def head_dim(self):
        return self.ttt_head_dim or (self.hidden_dim // self.ttt_heads if self.ttt_heads > 0 else 0)

    @property
    def ttt_dim(self):
        """d = D/4, the reconstruct layer's inner width."""
        return self.hidden_dim // 4

    @property
    def ttt_inner(self):
        """F = H·dh, the delta layer's projection width."""
        return self.ttt_heads * self.head_dim

    def validate(self, source="config"):
        def check(ok, message):
            if not ok:
                raise ConfigError("%s: %s" % (source, message))
        check(self.vocab_size > 0, "vocab_size must be positive, got %d" % self.vocab_size)
        check(self.hidden_dim > 0 and self.hidden_dim % 4 == 0, "hidden_dim must be a positive multiple of 4, got %d" % self.hidden_dim)
        check(self.num_layers > 0, "num_layers must be positive, got %d" % self.num_layers)
        check(self.intermediate > 0, "intermediate_dim must be positive, got %d" % self.intermediate)
        check(self.ttt_chunk > 0, "ttt_chunk must be positive, got %d" % self.ttt_chunk)
        check(self.context_len > 0, "context_len must be positive, got %d" % self.context_len)
        check(self.inner_lr >= 0 and self.inner_lr != float("inf"), "inner_lr must be a finite number >= 0, got %r" % self.inner_lr)
        check(0 < self.rms_norm_eps < float("inf"), "rms_norm_eps must be a finite number > 0, got %r" % self.rms_norm_eps)
        check(self.ttt_type in ("reconstruct", "delta"), "ttt_type must be \"reconstruct\" or \"delta\", got %r" % (self.ttt_type,))
        if self.ttt_type == "delta":
            check(self.ttt_heads > 0, "ttt_heads must be positive, got %d" % self.ttt_heads)
            check(self.ttt_head_dim > 0 or self.hidden_dim % self.ttt_heads == 0,
                  "ttt_heads must divide hidden_dim when ttt_head_dim is not given: %d is not a multiple of %d" % (self.hidden_dim, self.ttt_heads))
            check(self.head_dim > 0, "ttt_head_dim must be positive, got %d" % self.head_dim)
            check(0 <= self.ttt_conv <= 64, "ttt_conv must be in [0, 64] (0 = no convolution), got %d" % self.ttt_conv)
        return self

    @classmethod
    def from_dict(cls, d, source="config.json"):
        if not isinstance(d, dict):
            raise ConfigError("%s: config must be a JSON object, got %s" % (source, type(d).__name__))

        def find(*names, kind=int, default=None, required=False):
            for name in names:
                if d.get(name) is not None:
                    value = d[name]
                    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
                    if kind is int:
                        ok = ok and float(value).is_integer()
                    if not ok:
                        raise ConfigError("%s: field '%s' must be %s, got %s" % (source, name, "an integer" if kind is int else "a number", json.dumps(value)[:80]))
                    return kind(value)
            if required:
                raise ConfigError("%s: required field '%s' is missing" % (source, names[0]))
            return default
        ttt_type = d.get("ttt_type") if d.get("ttt_type") is not None else "reconstruct"
        if ttt_type not in ("reconstruct", "delta"):
            raise ConfigError("%s: field 'ttt_type' must be \"reconstruct\" or \"delta\", got %s" % (source, json.dumps(ttt_type)[:80]))
        if ttt_type == "reconstruct":
            for field in _DELTA_ONLY:
                if field in d:
                    raise ConfigError("%s: field '%s' applies only to ttt_type \"delta\", but ttt_type is \"reconstruct\"" % (source, field))
        return cls(
            vocab_size=find("vocab_size", required=True), hidden_dim=find("hidden_dim", "hidden_size", required=True),
            num_layers=find("num_layers", "num_hidden_layers", "n_layers", required=True),
            inner_lr=find("inner_lr", kind=float, required=True),
            intermediate_dim=find("intermediate_dim", "intermediate_size", default=0), ttt_chunk=find("ttt_chunk", default=1),
            rms_norm_eps=find("rms_norm_eps", kind=float, default=1e-5), context_len=find("context_len", default=128),
            ttt_type=ttt_type, ttt_heads=find("ttt_heads", default=4), ttt_head_dim=find("ttt_head_dim", default=0),
            ttt_conv=find("ttt_conv", default=4), extra={k: v for k, v in d.items() if k not in _KNOWN},
        ).validate(source)

    @classmethod
    def from_json(cls, text, source="config.json"):
        try:
            d = json.loads(text)
        except ValueError as e:
            raise ConfigError("%s: not valid JSON (%s)" % (source, e)) from None
        return cls.from_dict(d, source)

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read(), path)

    def to_dict(self):
        """The canonical object BitLlamaConfig.ToJsonObject writes: every field resolved, the delta fields only for
        "delta", then the unknown fields."""
        d = {"vocab_size": self.vocab_size, "hidden_dim": self.hidden_dim, "num_layers": self.num_layers,
             "inner_lr": self.inner_lr, "intermediate_dim": self.intermediate, "ttt_chunk": self.ttt_chunk,
             "rms_norm_eps": self.rms_norm_eps, "context_len": self.context_len, "ttt_type": self.ttt_type}
        if self.ttt_type == "delta":
            d.update(ttt_heads=self.ttt_heads, ttt_head_dim=self.head_dim, ttt_conv=self.ttt_conv)
        d.update(self.extra)
        return d

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path):
        write_text(path, self.to_json())

    def same_model(self, other):
        """The field that differs between two configs of the same weights layout, or None."""
        fields = ["ttt_type", "vocab_size", "hidden_dim", "num_layers", "intermediate", "ttt_chunk", "inner_lr",
                  "context_len", "rms_norm_eps"]
        if self.ttt_type == "delta":
            fields += ["ttt_heads", "head_dim", "ttt_conv"]
        for field in fields:
            a, b = getattr(self, field), getattr(other, field)
            if isinstance(a, float) or isinstance(b, float):
                a, b = float32(a), float32(b)
            if a != b:
                return field.replace("intermediate", "intermediate_dim").replace("head_dim", "ttt_head_dim"), getattr(self, field), getattr(other, field)
        return None

    def __repr__(self):
        return "ModelConfig(%s)" % ", ".join("%s=%r" % kv for kv in self.to_dict().items())
