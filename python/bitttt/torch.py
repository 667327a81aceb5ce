"""BitLlama as a PyTorch module (docs/model.md): the twin of the TorchSharp model in BitTtt.Training, for training
with DistributedDataParallel (``python3 -m bitttt.train``) and for running on a GPU. PyTorch (>= 1.13) is
needed here and only here; the rest of bitttt works without it.

    from bitttt.torch import BitLlamaModel
    model = BitLlamaModel.load("runs/tiny/model.bitt")          # a .bitt file or a model directory
    logits = model(torch.tensor([[1, 2, 3]]))               # (B, T) ids -> (B, T, V) logits
    model.save_directory("out", tokenizer_json)             # config.json, tokenizer.json, model.safetensors

Module and parameter names are the safetensors names of docs/model.md §2 (``layers.0.ttt.q_proj.weight``), and
every op follows the TorchSharp model's order, so the logits agree with it and with the managed engine.
"""
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from ._config import ConfigError, ModelConfig, float32
from ._files import FormatError, read_bitt, read_safetensors, write_bitt, write_safetensors, write_text

# Shape key (docs/model.md): B = batch, T = time, D = hidden, V = vocab, L = layers, I = SwiGLU width, d = D/4,
# H = delta heads, dh = delta head width, F = H·dh, K = delta convolution kernel, Kt = max(K − 1, 0) tail rows,
# b = ttt_chunk, Tc = tokens of one chunk (≤ b), Nc = chunks of one call, * = any leading dimensions,
# In/Out = a BitLinear's features.

__all__ = ["BitLlamaModel", "BitLinear", "RMSNorm", "SwiGLU", "ReconstructTttLayer", "DeltaTttLayer", "ShortConv", "BitLlamaBlock",
           "ModelConfig", "ConfigError", "FormatError", "expected_weights"]


def expected_weights(config):
    """[(name, shape)] of docs/model.md §2 in its order (BitTtt.Formats.BitLlamaWeights.Expected)."""
    v, dm, d, i = config.vocab_size, config.hidden_dim, config.ttt_dim, config.intermediate
    f, h, k = config.ttt_inner, config.ttt_heads, config.ttt_conv
    out = [("embed.weight", [v, dm])]
    for n in range(config.num_layers):
        p = "layers.%d." % n
        out.append((p + "norm1.weight", [dm]))
        if config.ttt_type == "delta":
            out += [(p + "ttt.q_proj.weight", [f, dm]), (p + "ttt.k_proj.weight", [f, dm]), (p + "ttt.v_proj.weight", [f, dm]),
                    (p + "ttt.o_proj.weight", [dm, f]), (p + "ttt.beta_proj.weight", [h, dm]), (p + "ttt.beta_proj.bias", [h])]
            if k > 0:
                out += [(p + "ttt.q_conv.weight", [f, k]), (p + "ttt.k_conv.weight", [f, k]), (p + "ttt.v_conv.weight", [f, k])]
        else:
            out += [(p + "ttt.down.weight", [d, dm]), (p + "ttt.up.weight", [dm, d])]
        out += [(p + "norm2.weight", [dm]), (p + "mlp.gate_proj.weight", [i, dm]), (p + "mlp.up_proj.weight", [i, dm]),
                (p + "mlp.down_proj.weight", [dm, i])]
    return out + [("norm_f.weight", [dm]), ("lm_head.weight", [v, dm])]


def _weight_scale(w):
    """s = 1 / max(mean|W|, 1e-5), the mean summed in float64 and rounded once, as the managed engine does."""
    return w.detach().abs().to(torch.float64).mean().to(w.dtype).clamp_min(1e-5).reciprocal()   # ()


def _activation_scale(x):
    """a = 127 / max(max|x|, 1e-5) per row: 127 divided by the maximum (not 127 · (1 / max))."""
    m = x.detach().abs().amax(-1, keepdim=True).clamp_min(1e-5)                                  # (*, 1)
    return torch.full_like(m, 127.0) / m


def bit_product(x, weights):
    """(*, In) -> (*, ΣOut): BitLinear (docs/model.md §3) of each weight, concatenated. The matmul of integer
    xq and Wq is exact in float32 below In = 131 072, and one division by a·s is the last rounding, as in the
    TorchSharp model and the managed engine. Straight-through: the offsets round(·) − · carry no gradient."""
    w = weights[0] if len(weights) == 1 else torch.cat(weights, 0)                               # (ΣOut, In)
    with torch.no_grad():
        a = _activation_scale(x)                                                                 # (*, 1)
        s = torch.cat([_weight_scale(t).expand(t.shape[0]) for t in weights])                    # (ΣOut)
        xa = x * a
        dx = xa.round().clamp(-128, 127) - xa                                                    # (*, In)
        ws = w * s.unsqueeze(1)
        dw = ws.round().clamp(-1, 1) - ws                                                        # (ΣOut, In)
    xq = x * a + dx                                                                              # value xq
    wq = w * s.unsqueeze(1) + dw                                                                 # value Wq
    return xq.matmul(wq.t()).div(a * s)


class BitLinear(nn.Module):
    """BitNet b1.58 linear layer without bias: ternary weight per tensor, int8 input per token, both with the
    straight-through estimator. weight (Out, In), y = x·Wᵀ; initialised uniform ±1/√In like nn.Linear."""

    def __init__(self, in_features, out_features):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))   # (Out, In)

    def forward(self, x):                                                                        # (*, In) -> (*, Out)
        return bit_product(x, [self.weight])


class RMSNorm(nn.Module):
    """x / sqrt(mean(x²) + ε) · weight, per token."""

    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))                                              # (D)
        self.eps = float32(eps)

    def forward(self, x):                                                                        # (*, D) -> (*, D)
        rms = x.pow(2).mean(-1, keepdim=True).add(self.eps).sqrt()                               # (*, 1)
        return x / rms * self.weight


class SwiGLU(nn.Module):
    """down_proj(silu(gate_proj(m)) * up_proj(m)), all three BitLinear."""

    def __init__(self, dim, intermediate):
        super().__init__()
        self.gate_proj = BitLinear(dim, intermediate)                                            # (I, D)
        self.up_proj = BitLinear(dim, intermediate)                                              # (I, D)
        self.down_proj = BitLinear(intermediate, dim)                                            # (D, I)

    def forward(self, m):                                                                        # (*, D) -> (*, D)
        return self.down_proj(F.silu(self.gate_proj(m)) * self.up_proj(m))


class ReconstructTttLayer(nn.Module):
    """TTT "reconstruct" (docs/model.md §3a). State (W, G, position): W (B, d, d) at the current chunk start, G (B, d, d)
    the inner gradients of the chunk's tokens seen so far, position the count of those tokens."""

    def __init__(self, config):
        super().__init__()
        d = config.ttt_dim
        self.down = BitLinear(config.hidden_dim, d)                                              # (d, D)
        self.up = BitLinear(d, config.hidden_dim)                                                # (D, d)
        self.inner_lr = float32(config.inner_lr)
        self.chunk = config.ttt_chunk

    def forward(self, a, state=None):                                                            # (B, T, D) -> (B, T, D), state
        f = self.down(a)                                                                         # (B, T, d)
        k = f / f.pow(2).sum(-1, keepdim=True).sqrt().add(1e-6)                                  # (B, T, d)
        pred, state = self.dual_form(k, state)                                                   # (B, T, d)
        return self.up(pred), state

    def dual_form(self, k, state):
        """Per chunk with rows K and chunk-start W, carrying G from a segment that ended mid-chunk:
        E = K·Wᵀ − K, Pred = K·Wᵀ − η·K·Gᵀ − η·strict_tril(K·Kᵀ)·E, G' = G + Eᵀ·K; a full chunk sets W −= η·G', G' = 0."""
        batch, time, d = k.shape
        eta = self.inner_lr
        w, g, position = state if state is not None else (k.new_zeros(batch, d, d), k.new_zeros(batch, d, d), 0)
        if not 0 <= position < self.chunk or w.shape != (batch, d, d) or g.shape != (batch, d, d):
            raise ValueError("reconstruct TTT state must be W, G of shape %s and a position in [0, %d), got %s, %s, %d"
                             % ([batch, d, d], self.chunk, list(w.shape), list(g.shape), position))
        preds, t = [], 0
        while t < time:
            n = min(self.chunk - position, time - t)
            kc = k[:, t:t + n]                                                                   # (B, n, d)
            p0 = kc.matmul(w.transpose(1, 2))                                                    # (B, n, d)
            e = p0 - kc                                                                          # (B, n, d)
            mask = kc.matmul(kc.transpose(1, 2)).tril(-1)                                        # (B, n, n)
            pred = p0 - mask.matmul(e).mul(eta)
            grad_sum = e.transpose(1, 2).matmul(kc)                                              # (B, d, d)
            if position > 0:
                pred = pred - kc.matmul(g.transpose(1, 2)).mul(eta)
                grad_sum = g + grad_sum
            preds.append(pred)
            position, t = position + n, t + n
            if position == self.chunk:
                w, g, position = w - grad_sum.mul(eta), torch.zeros_like(grad_sum), 0
            else:
                g = grad_sum
        out = preds[0] if len(preds) == 1 else (torch.cat(preds, 1) if preds else k.new_zeros(batch, 0, d))
        return out, (w, g, position)


class ShortConv(nn.Module):
    """Causal depthwise convolution (docs/model.md §3b): y_t[c] = Σ_j weight[c, j] · x_{t−K+1+j}[c]. Initialised to
    the identity (last tap 1), so a new layer starts as the plain delta rule."""

    def __init__(self, channels, kernel):
        super().__init__()
        w = torch.zeros(channels, kernel)
        w[:, kernel - 1] = 1
        self.weight = nn.Parameter(w)                                                            # (F, K)

    @staticmethod
    def apply_channels_first(x, weight, tail):
        """x (B, T, F), weight (F, K), the Kt rows before x (B, Kt, F) -> (y (B, F, T), the last Kt rows of [tail; x])."""
        batch, time, channels = x.shape
        kernel = weight.shape[1]
        if tail is None:
            tail = x.new_zeros(batch, kernel - 1, channels)
        padded = torch.cat([tail, x], 1)                                                         # (B, T + K − 1, F)
        y = F.conv1d(padded.transpose(1, 2), weight.unsqueeze(1), groups=channels)               # (B, F, T)
        return y, padded[:, time:]


class DeltaTttLayer(nn.Module):
    """TTT "delta" (docs/model.md §3b): per head S ← S − β (S k − v) kᵀ, then o = S q; out = o_proj(concat_h(o) + v).
    Trains in the exact chunk-wise WY/UT form of the TorchSharp layer (ttt_chunk is only its block size).
    State (S, tail): S (B, H, dh, dh) and the last K−1 pre-convolution rows of [xq | xk | xv] (B, Kt, 3F)."""

    def __init__(self, config):
        super().__init__()
        dm, f = config.hidden_dim, config.ttt_inner
        self.heads, self.head_dim, self.kernel = config.ttt_heads, config.head_dim, config.ttt_conv
        self.chunk, self.inner_lr = config.ttt_chunk, float32(config.inner_lr)
        self.q_proj = BitLinear(dm, f)                                                           # (F, D)
        self.k_proj = BitLinear(dm, f)                                                           # (F, D)
        self.v_proj = BitLinear(dm, f)                                                           # (F, D)
        self.o_proj = BitLinear(f, dm)                                                           # (D, F)
        self.beta_proj = nn.Linear(dm, self.heads, bias=True)                                    # (H, D) + (H), full precision
        with torch.no_grad():
            self.beta_proj.bias.zero_()
        if self.kernel > 0:
            self.q_conv = ShortConv(f, self.kernel)                                              # (F, K)
            self.k_conv = ShortConv(f, self.kernel)
            self.v_conv = ShortConv(f, self.kernel)

    def forward(self, a, state=None):                                                            # (B, T, D) -> (B, T, D), state
        batch, time, _ = a.shape
        h, dh = self.heads, self.head_dim
        inner = h * dh
        s0, tail = state if state is not None else (None, None)
        if state is not None and (s0.shape != (batch, h, dh, dh) or tail.shape != (batch, max(self.kernel - 1, 0), 3 * inner)):
            raise ValueError("delta TTT state S/tail must have shapes %s and %s, found %s and %s"
                             % ([batch, h, dh, dh], [batch, max(self.kernel - 1, 0), 3 * inner], list(s0.shape), list(tail.shape)))
        x = bit_product(a, [self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])       # (B, T, 3F)
        if self.kernel > 0:
            conv = torch.cat([self.q_conv.weight, self.k_conv.weight, self.v_conv.weight], 0)  # (3F, K)
            mixed, tail = ShortConv.apply_channels_first(x, conv, tail)                          # (B, 3F, T)
        else:
            mixed, tail = x.transpose(1, 2), a.new_zeros(batch, 0, 3 * inner)
        if time == 0:
            return a.new_zeros(batch, 0, a.shape[2]), (s0 if s0 is not None else a.new_zeros(batch, h, dh, dh), tail)
        c = min(self.chunk, time)
        n = (time + c - 1) // c
        pad = n * c - time
        if pad > 0:
            mixed = F.pad(mixed, [0, pad])                                                       # (B, 3F, Nc·Tc)
        blocks = mixed.reshape(batch, 3, h, dh, n, c).permute(1, 0, 2, 4, 5, 3).contiguous()    # (3, B, H, Nc, Tc, dh)
        qk = blocks[:2]
        qk = qk / torch.linalg.vector_norm(qk, 2, -1, keepdim=True).add(1e-6)                    # a zero pad row stays 0
        v = blocks[2]                                                                            # (B, H, Nc, Tc, dh)
        beta = torch.sigmoid(self.beta_proj(a)).mul(self.inner_lr).transpose(1, 2)               # (B, H, T)
        if pad > 0:
            beta = F.pad(beta, [0, pad])
        o, s = chunk_blocks(qk[0], qk[1], v, beta.reshape(batch, h, n, c, 1), s0)               # (B, H, Nc, Tc, dh)
        merged = (o + v).reshape(batch, h, n * c, dh)[:, :, :time].transpose(1, 2).reshape(batch, time, inner)
        return self.o_proj(merged), (s, tail)                                                    # (B, T, D)


def chunk_blocks(q, k, v, b, s0):
    """The delta rule on blocks q, k, v (B, H, Nc, Tc, dh), β (B, H, Nc, Tc, 1) from S₀ (B, H, dh, dh or None).
    With A = strict_tril(diag(β) K Kᵀ), [W | U₀] = (I + A)⁻¹ diag(β) [K | V], P = tril(Q Kᵀ):
    O = (Q − P W) S₀ᵀ + P U₀ and S' = S₀ (I − Wᵀ K) + U₀ᵀ K per chunk (derivation in DeltaTttLayer.cs)."""
    batch, heads, n, c, dh = q.shape
    kt = k.transpose(-1, -2)                                                                     # (B, H, Nc, dh, Tc)
    rhs = torch.cat([k, v], -1) * b                                                              # (B, H, Nc, Tc, 2dh)
    a = rhs[..., :dh].matmul(kt).tril(-1)                                                        # (B, H, Nc, Tc, Tc)
    x = torch.linalg.solve_triangular(a, rhs, upper=False, left=True, unitriangular=True)        # [W | U₀]
    p = q.matmul(kt).tril(0)                                                                     # (B, H, Nc, Tc, Tc)
    px = p.matmul(x)                                                                             # [P W | P U₀]
    qw = q - px[..., :dh]                                                                        # Q − P W
    xk = x.transpose(-1, -2).matmul(k)                                                           # (B, H, Nc, 2dh, dh)
    m = torch.eye(dh, dtype=q.dtype, device=q.device) - xk[..., :dh, :]                          # I − Wᵀ K
    g = xk[..., dh:, :]                                                                          # U₀ᵀ K
    ms = m.reshape(batch * heads, n, dh, dh).unbind(1)
    gs = g.reshape(batch * heads, n, dh, dh).unbind(1)
    starts, s = [], (s0.reshape(batch * heads, dh, dh) if s0 is not None else None)
    for i in range(n):
        starts.append(s if s is not None else q.new_zeros(batch * heads, dh, dh))
        s = gs[i] if s is None else s.matmul(ms[i]) + gs[i]                                      # S M + G
    sn = torch.stack(starts, 1).reshape(batch, heads, n, dh, dh)                                 # chunk-start states
    o = qw.matmul(sn.transpose(-1, -2)) + px[..., dh:]                                           # (B, H, Nc, Tc, dh)
    return o, s.reshape(batch, heads, dh, dh)


class BitLlamaBlock(nn.Module):
    """h = h + ttt(norm1(h)); h = h + mlp(norm2(h))."""

    def __init__(self, config):
        super().__init__()
        self.norm1 = RMSNorm(config.hidden_dim, config.rms_norm_eps)                             # (D)
        self.ttt = DeltaTttLayer(config) if config.ttt_type == "delta" else ReconstructTttLayer(config)
        self.norm2 = RMSNorm(config.hidden_dim, config.rms_norm_eps)                             # (D)
        self.mlp = SwiGLU(config.hidden_dim, config.intermediate)

    def forward(self, h, state=None):                                                            # (B, T, D) -> (B, T, D), state
        mixed, state = self.ttt(self.norm1(h), state)
        h = h + mixed
        return h + self.mlp(self.norm2(h)), state


class BitLlamaModel(nn.Module):
    """Embedding, N blocks, final RMSNorm, full-precision LM head (docs/model.md §2-3). ``model(ids)`` gives logits
    from a zero TTT state; ``forward_state(ids, state)`` continues a state and returns the next one."""

    def __init__(self, config):
        super().__init__()
        if not isinstance(config, ModelConfig):
            config = ModelConfig.from_dict(dict(config))
        self.config = config.validate()
        self.embed = nn.Embedding(config.vocab_size, config.hidden_dim)                          # (V, D), N(0, 1)
        self.layers = nn.ModuleList([BitLlamaBlock(config) for _ in range(config.num_layers)])
        self.norm_f = RMSNorm(config.hidden_dim, config.rms_norm_eps)                            # (D)
        self.lm_head = nn.Linear(config.hidden_dim, config.vocab_size, bias=False)               # (V, D)

    def forward(self, ids):                                                                      # (B, T) -> (B, T, V)
        return self.forward_state(ids, None)[0]

    def forward_state(self, ids, state):
        """Token ids (B, T) -> (logits (B, T, V), the state after the last token); state None is the zero state.
        Feeding a sequence in segments, passing each state on, gives the logits of feeding it at once."""
        if ids.dim() != 2:
            raise ValueError("token ids must have shape (batch, time), got %s" % list(ids.shape))
        if ids.numel() > 0:
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= self.config.vocab_size:
                raise ValueError("token id %d is outside the vocabulary [0, %d)" % (low if low < 0 else high, self.config.vocab_size))
        if state is not None and len(state) != len(self.layers):
            raise ValueError("TTT state has %d layers, the model has %d" % (len(state), len(self.layers)))
        h = self.embed(ids)                                                                      # (B, T, D)
        states = []
        for i, layer in enumerate(self.layers):
            h, s = layer(h, state[i] if state is not None else None)
            states.append(s)
        return self.lm_head(self.norm_f(h)), states

    # ---- files (docs/model.md §4) ----

    def weights(self):
        """[(name, shape, F32 bytes)] in docs/model.md §2 order."""
        params = dict(self.named_parameters())
        return [(name, shape, _f32_bytes(params[name])) for name, shape in expected_weights(self.config)]

    def load_weights(self, tensors, source):
        """Copies a SafeTensors' weights in after checking every name and shape against the config."""
        params = dict(self.named_parameters())
        for name, shape in expected_weights(self.config):
            if name not in tensors.tensors:
                raise FormatError("%s: tensor '%s' is missing (expected shape %s for this config)" % (source, name, shape))
            dtype, found, data = tensors.tensors[name]
            if list(found) != list(shape):
                raise FormatError("%s: tensor '%s': expected shape %s, found %s (config.json does not match the weights?)"
                                  % (source, name, shape, found))
            with torch.no_grad():
                params[name].copy_(_from_bytes(data, dtype, shape))
        return self

    @classmethod
    def load(cls, path, device="cpu"):
        """A .bitt file or a model directory (config.json + model.safetensors or weight.safetensors)."""
        model, _ = cls.load_with_tokenizer(path, device)
        return model

    @classmethod
    def load_with_tokenizer(cls, path, device="cpu"):
        """(model, tokenizer.json text or None) from a .bitt file or a model directory."""
        if os.path.isdir(path):
            config = ModelConfig.load(os.path.join(path, "config.json"))
            weights = next((os.path.join(path, n) for n in ("model.safetensors", "weight.safetensors")
                            if os.path.exists(os.path.join(path, n))), None)
            if weights is None:
                raise FileNotFoundError("%s: no model.safetensors (or weight.safetensors) in the model directory" % path)
            tok_path = os.path.join(path, "tokenizer.json")
            tokenizer = open(tok_path, encoding="utf-8").read() if os.path.exists(tok_path) else None
            tensors, source = read_safetensors(weights), weights
        elif os.path.isfile(path):
            config_dict, tokenizer, tensors = read_bitt(path)
            config, source = ModelConfig.from_dict(config_dict, path + " (config)"), path
        else:
            raise FileNotFoundError("%s: no such model (a .bitt file or a model directory is needed)" % path)
        return cls.from_weights(config, tensors, source).to(device), tokenizer

    @classmethod
    def from_safetensors(cls, config, path, device="cpu"):
        """A config (ModelConfig or dict) and bare weights, as cortex_rust.BitLlama(config, path) takes them."""
        config = config if isinstance(config, ModelConfig) else ModelConfig.from_dict(dict(config))
        return cls.from_weights(config, read_safetensors(path), path).to(device)

    @classmethod
    def from_weights(cls, config, tensors, source):
        return cls(config).load_weights(tensors, source)

    def save_safetensors(self, path, metadata=None):
        write_safetensors(path, self.weights(), metadata)

    def save_bitt(self, path, tokenizer_json=None):
        write_bitt(path, self.config.to_dict(), tokenizer_json, self.weights())

    def save_directory(self, directory, tokenizer_json=None):
        """config.json, tokenizer.json (when given) and model.safetensors, each atomically; config.json last."""
        os.makedirs(directory, exist_ok=True)
        self.save_safetensors(os.path.join(directory, "model.safetensors"))
        if tokenizer_json is not None:
            write_text(os.path.join(directory, "tokenizer.json"), tokenizer_json)
        self.config.save(os.path.join(directory, "config.json"))


def _f32_bytes(t):
    return t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()


def _from_bytes(data, dtype, shape):
    count = 1
    for s in shape:
        count *= s
    if count == 0:
        return torch.zeros(shape)
    raw = bytearray(data)
    if dtype == "F32":
        t = torch.frombuffer(raw, dtype=torch.float32)
    elif dtype == "F16":
        t = torch.frombuffer(raw, dtype=torch.float16).float()
    else:
        t = torch.frombuffer(raw, dtype=torch.bfloat16).float()
    return t.reshape(shape)
