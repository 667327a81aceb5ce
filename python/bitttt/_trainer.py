"""The training loop of python3 -m bitttt.train, the twin of BitTtt.Training's BitLlamaTrainer (docs/model.md §5):
the same window sampler, schedule, AdamW, clipping, evaluation windows, checkpoint format and metrics.csv, so a
run here and a run of `bit-llama train` with the same flags draw the same windows, and each resumes the other's
checkpoint. Under torch.distributed (torchrun, or the env:// variables it sets) every rank takes its share of each
step's windows and DistributedDataParallel averages the gradients: a step is the same step at any world size.
"""
import json
import math
import os
import time

import numpy
import torch
import torch.distributed as dist
import torch.nn.functional as F

from ._config import ModelConfig
from ._files import FormatError, atomic_write, read_bitt, read_safetensors, safetensors_header, tokens_info, write_text
from .torch import BitLlamaModel, _f32_bytes, _from_bytes, expected_weights

# Shape key: B = global batch (windows per step), b = this rank's windows (B / world size), T = context length, V = vocab.

BETAS, EPSILON = (0.9, 0.95), 1e-8
CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_FORMAT = "bitllama-checkpoint/1"
EXP_AVG, EXP_AVG_SQ = "optimizer.exp_avg.", "optimizer.exp_avg_sq."
METRICS_HEADER = "step,lr,train_loss,val_loss,tokens_per_s,elapsed_s"
_MASK = (1 << 64) - 1


class WindowSampler:
    """SplitMix64 with one 64-bit state (BitTtt.Training.WindowSampler): the data position is (state, windows drawn)."""

    def __init__(self, state, windows_drawn=0):
        self.state, self.windows_drawn = state & _MASK, windows_drawn

    @classmethod
    def from_seed(cls, seed):
        return cls(0x5EED_0000_0000_0000 ^ (seed & 0xFFFFFFFF))

    def _next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def next_index(self, count):
        """A uniform index in [0, count), by rejection (WindowSampler.NextIndex); counts as one window drawn."""
        limit = _MASK - _MASK % count
        x = self._next()
        while x >= limit:
            x = self._next()
        self.windows_drawn += 1
        return x % count

    def next_start(self, count, window):
        """A uniform start in [0, count − window], by rejection (no modulo bias)."""
        span = count - window + 1
        limit = _MASK - _MASK % span
        x = self._next()
        while x >= limit:
            x = self._next()
        self.windows_drawn += 1
        return x % span


def learning_rate(step, total, peak, minimum, warmup):
    """Linear warmup to the peak, then cosine to the minimum at the last step (LearningRateSchedule.At)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    decay = max(1, total - 1 - warmup)
    progress = min(max((step - warmup) / decay, 0.0), 1.0)
    return minimum + 0.5 * (peak - minimum) * (1 + math.cos(math.pi * progress))


def open_tokens(path):
    """(ids, flags): the ids of tokens.bin, and for a file of examples (version 2) their flags, else None."""
    version, count = tokens_info(path)
    if not count:
        return numpy.zeros(0, "<i4"), (numpy.zeros(0, "u1") if version == 2 else None)
    ids = numpy.memmap(path, dtype="<i4", mode="r", offset=16, shape=(count,))
    flags = numpy.memmap(path, dtype="u1", mode="r", offset=16 + 4 * count, shape=(count,)) if version == 2 else None
    return ids, flags


TARGET, EXAMPLE_START = 1, 2


class ExampleWindows:
    """The rows of a corpus of examples (BitTtt.Training.ExampleWindows): example i from its first token, cut to the
    window, padded with id 0 and mask 0; the mask of prediction t is the target flag of token t + 1 (every real token
    after the first with train_on_all). Examples without a counted prediction in the window are never drawn."""

    def __init__(self, ids, flags, window, train_on_all):
        self.ids, self.flags, self.window, self.train_on_all = ids, flags, window, train_on_all
        starts = numpy.flatnonzero(numpy.asarray(flags) & EXAMPLE_START)
        ends = numpy.append(starts[1:], len(ids))
        self.examples, self.cut = len(starts), int(numpy.sum(ends - starts > window))
        kept = []
        for start, end in zip(starts, ends):
            inside = int(min(end - start, window))
            counted = inside > 1 if train_on_all else bool(numpy.any(numpy.asarray(flags[start + 1:start + inside]) & TARGET))
            if counted:
                kept.append((int(start), inside))
        self.rows = kept

    def fill(self, index):
        """(ids (window,) int64, mask (window − 1,) float32) of example `index`."""
        start, length = self.rows[index]
        ids = numpy.zeros(self.window, numpy.int64)
        ids[:length] = self.ids[start:start + length]
        mask = numpy.zeros(self.window - 1, numpy.float32)
        predicted = numpy.arange(1, length)
        mask[:length - 1] = 1 if self.train_on_all else (numpy.asarray(self.flags[start + predicted]) & TARGET) != 0
        return ids, mask


def masked_loss(logits, ids, mask, count):
    """Sum of the cross-entropies the (b, T) mask marks, over `count` (BitLlamaTrainer.Loss for a mask)."""
    each = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
    return (each * mask.reshape(-1)).sum() / count


def _draws(seed):
    """Standard normal draws (Box–Muller over SplitMix64), PretrainedModel's NormalDraws: the same rows as .NET's."""
    state, spare = (0x6E0F_0000_0000_0000 ^ (seed & 0xFFFFFFFF)) & _MASK, None
    while True:
        values = []
        for _ in range(2):
            state = (state + 0x9E3779B97F4A7C15) & _MASK
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
            values.append(((z ^ (z >> 31)) >> 11) + 0.5)
        u1, u2 = values[0] / (1 << 53), values[1] / (1 << 53)
        radius, angle = math.sqrt(-2 * math.log(u1)), 2 * math.pi * u2
        yield radius * math.cos(angle)
        yield radius * math.sin(angle)


def initial_model(path):
    """(ModelConfig, SafeTensors, source) of a .bitt file, a model directory or a training checkpoint."""
    if os.path.isdir(path):
        config = ModelConfig.load(os.path.join(path, "config.json"))
        weights = next((os.path.join(path, n) for n in ("model.safetensors", "weight.safetensors") if os.path.exists(os.path.join(path, n))), None)
        if weights is None:
            raise FileNotFoundError("%s: no model.safetensors (or weight.safetensors) in the model directory" % path)
        return config, read_safetensors(weights), weights
    if not os.path.isfile(path):
        raise FileNotFoundError("%s: no such .bitt file, model directory or checkpoint" % path)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"BITT":
        config_dict, _, tensors = read_bitt(path)
        return ModelConfig.from_dict(config_dict, path), tensors, path
    st = read_safetensors(path)
    if not st.metadata.get("format", "").startswith("bitllama-checkpoint/") or "config" not in st.metadata:
        raise FormatError("%s: neither a .bitt file nor a training checkpoint" % path)
    return ModelConfig.from_json(st.metadata["config"], path), st, path


def grow_into(model, start_config, tensors, source, seed):
    """Copies a model's weights into `model` (with as many or more vocabulary rows): new embedding rows are the mean of
    the old plus each dimension's standard deviation times a normal draw, new LM-head rows the mean (docs/model.md §6.5)."""
    params = dict(model.named_parameters())
    old_vocab, draws = start_config.vocab_size, _draws(seed)
    with torch.no_grad():
        for name, shape in expected_weights(start_config):
            if name not in tensors.tensors:
                raise FormatError("%s: tensor '%s' is missing" % (source, name))
            dtype, found, data = tensors.tensors[name]
            values = _from_bytes(data, dtype, found).to(torch.float64)
            target = params[name]
            if name in ("embed.weight", "lm_head.weight") and target.shape[0] > old_vocab:
                mean = values.mean(0)
                std = (values.pow(2).mean(0) - mean.pow(2)).clamp(min=0).sqrt()
                rows = []
                for _ in range(target.shape[0] - old_vocab):
                    if name == "embed.weight":
                        rows.append(mean + std * torch.tensor([next(draws) for _ in range(values.shape[1])], dtype=torch.float64))
                    else:
                        rows.append(mean.clone())
                values = torch.cat([values, torch.stack(rows)])
            target.copy_(values.to(target.dtype))


def check_corpus(tokens, path, minimum, role, vocab_size):
    if len(tokens) < minimum:
        raise ValueError("%s: the %s corpus has %d tokens, fewer than one window of %d %s" % (
            path, role, len(tokens), minimum,
            "(context_len + 1); use a longer text or a smaller --context-len" if role == "training" else "tokens"))
    low, high = int(tokens.min()), int(tokens.max())
    if low < 0 or high >= vocab_size:
        raise ValueError("%s: the %s corpus holds token id %d, outside the model's vocabulary [0, %d) (tokenizer/config vocab mismatch)"
                         % (path, role, low if low < 0 else high, vocab_size))


def make_optimizer(model, weight_decay):
    """torch.optim.AdamW, β = (0.9, 0.95), decay on matrices only (docs/model.md §5): the update rule the TorchSharp
    trainer writes out. Parameters are listed in docs/model.md order so moments map to names."""
    named = dict(model.named_parameters())
    names = [name for name, _ in expected_weights(model.config)]
    decay = [named[n] for n in names if named[n].dim() >= 2]
    rest = [named[n] for n in names if named[n].dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}],
                                  lr=0.0, betas=BETAS, eps=EPSILON)
    return optimizer, [(n, named[n]) for n in names]


# Checkpoint format (BitTtt.Training.TrainingCheckpoint): one safetensors file, written atomically:
#   <docs/model.md §2 name>                    weights, F32
#   optimizer.exp_avg.<name>, .exp_avg_sq.<name>   AdamW moments
# __metadata__: format "bitllama-checkpoint/1", step, adam_step, rng_state (16 hex digits), windows_drawn,
# train_loss, config (config.json text).

def save_checkpoint(path, model, optimizer, named, step, sampler, loss):
    adam_step = 0
    tensors = [(n, shape, data) for n, shape, data in model.weights()]
    for name, p in named:
        state = optimizer.state.get(p, {})
        adam_step = max(adam_step, int(state["step"]) if "step" in state else 0)
        for prefix, key in ((EXP_AVG, "exp_avg"), (EXP_AVG_SQ, "exp_avg_sq")):
            moment = state.get(key)
            tensors.append((prefix + name, list(p.shape), _f32_bytes(moment if moment is not None else torch.zeros_like(p))))
    metadata = {"format": CHECKPOINT_FORMAT, "step": str(step), "adam_step": str(adam_step),
                "rng_state": "%016X" % sampler.state, "windows_drawn": str(sampler.windows_drawn),
                "train_loss": repr(float(loss)), "config": json.dumps(model.config.to_dict(), separators=(",", ":"))}
    header = safetensors_header([(n, s, len(b)) for n, s, b in tensors], metadata)

    def write(f):
        f.write(len(header).to_bytes(8, "little"))
        f.write(header)
        for _, _, data in tensors:
            f.write(data)
    try:
        atomic_write(path, write)
    except OSError as e:
        raise OSError("%s: could not write the checkpoint (%s); the previous checkpoint, if any, is unchanged" % (path, e)) from None


def load_checkpoint(path, config, model, optimizer, named):
    """Restores weights, moments and the AdamW step; returns (step, sampler, train loss)."""
    if not os.path.exists(path):
        raise FileNotFoundError("%s: no checkpoint to resume from (start without --resume, or point --output at the earlier run)" % path)
    st = read_safetensors(path)

    def meta(key):
        if key not in st.metadata:
            raise FormatError("%s: checkpoint metadata lacks '%s' (not a checkpoint written by this trainer?)" % (path, key))
        return st.metadata[key]
    if meta("format") != CHECKPOINT_FORMAT:
        raise FormatError("%s: checkpoint format '%s' is not supported (expected '%s')" % (path, meta("format"), CHECKPOINT_FORMAT))
    saved = ModelConfig.from_json(meta("config"), path)
    differs = saved.same_model(config)
    if differs:
        raise FormatError("%s: checkpoint is for a different model: %s = %s in the checkpoint, %s in this run" % ((path,) + differs))
    model.load_weights(st, path)
    adam_step = _integer(path, "adam_step", meta("adam_step"))
    for name, p in named:
        state = optimizer.state[p]
        for prefix, key in ((EXP_AVG, "exp_avg"), (EXP_AVG_SQ, "exp_avg_sq")):
            dtype, shape, data = st.tensors.get(prefix + name, (None, None, None))
            if data is None or list(shape) != list(p.shape):
                raise FormatError("%s: tensor '%s' is missing or not of shape %s" % (path, prefix + name, list(p.shape)))
            state[key] = _from_bytes(data, dtype, shape).to(p.device).clone()
        state["step"] = torch.tensor(float(adam_step))
    try:
        rng = int(meta("rng_state"), 16)
    except ValueError:
        raise FormatError("%s: metadata 'rng_state' is not a 64-bit hex number: '%s'" % (path, meta("rng_state"))) from None
    try:
        loss = float(st.metadata.get("train_loss", "nan"))
    except ValueError:
        loss = float("nan")
    return _integer(path, "step", meta("step")), WindowSampler(rng, _integer(path, "windows_drawn", meta("windows_drawn"))), loss


def _integer(path, key, value):
    if not value.isdigit():
        raise FormatError("%s: metadata '%s' is not a non-negative integer: '%s'" % (path, key, value))
    return int(value)


def _net_double(x):
    """A non-finite double as .NET prints it (NaN, ∞, -∞)."""
    return "NaN" if x != x else ("∞" if x > 0 else "-∞") if math.isinf(x) else repr(x)


def _g(x, decimals):
    """.NET's "0.######": fixed point, at most `decimals` decimals, no trailing zeros."""
    text = "%.*f" % (decimals, x)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _e(x):
    """.NET's "0.######e+00": mantissa with at most 6 decimals, exponent with a sign and at least two digits."""
    if x == 0:
        return "0e+00"
    mantissa, exponent = ("%.6e" % x).split("e")
    return "%se%s%02d" % (_g(float(mantissa), 6), "-" if int(exponent) < 0 else "+", abs(int(exponent)))


class Metrics:
    """metrics.csv beside the checkpoint, as TrainingMetrics writes it: one flushed row per step; on resume the rows
    after the checkpoint's step are dropped (rewritten atomically) and elapsed_s continues."""

    def __init__(self, directory, resumed_step):
        path = os.path.join(directory, "metrics.csv")
        self.path, self.elapsed_before = path, 0.0
        kept = [METRICS_HEADER]
        if resumed_step > 0 and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f.read().splitlines()[1:]:
                    fields = line.split(",")
                    if len(fields) != 6 or not fields[0].isdigit() or int(fields[0]) > resumed_step:
                        continue
                    kept.append(line)
                    try:
                        self.elapsed_before = float(fields[5])
                    except ValueError:
                        pass
        write_text(path, "\n".join(kept) + "\n")
        self._file = open(path, "a", encoding="utf-8")

    def append(self, step, lr, loss, val, tokens_per_s, elapsed):
        self._file.write("%d,%s,%s,%s,%s,%s\n" % (step, _e(lr), _g(loss, 6), "" if val is None else _g(val, 6),
                                                   _g(tokens_per_s, 1), _g(self.elapsed_before + elapsed, 3)))
        self._file.flush()

    def close(self):
        self._file.close()


def write_baselines(directory, baselines, train_tokens, validation_tokens):
    """baselines.json (TrainingMetrics.WriteBaselines)."""
    doc = {"unigram": baselines["unigram"], "bigram": baselines["bigram"], "trigram": baselines["trigram"], "unit": "nats/token",
           "train_tokens": train_tokens, "validation_tokens": validation_tokens,
           "models": {"unigram": "add-one", "bigram": "interpolated Kneser-Ney", "trigram": "interpolated Kneser-Ney"}}
    write_text(os.path.join(directory, "baselines.json"), json.dumps(doc, indent=2) + "\n")


def verdict(loss, b, what="validation"):
    """BaselineLosses.Verdict: which n-gram baselines the loss beats."""
    items = [("unigram", b["unigram"]), ("bigram", b["bigram"]), ("trigram", b["trigram"])]
    beaten = [i for i in items if loss < i[1]]
    rest = [i for i in items if not loss < i[1]]

    def join(parts, conjunction):
        words = ["the %s (%.2f)" % p for p in parts]
        return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " %s " % conjunction + words[-1]
    head = "%s %.2f nats: " % (what, loss)
    if not rest:
        return head + "beats " + join(beaten, "and")
    if not beaten:
        return head + "does not beat " + join(rest, "or")
    return head + "beats " + join(beaten, "and") + ", not " + join(rest, "or")


class Divergence:
    """BitLlamaTrainer's rule for a diverged run: after the warmup, a training or validation loss above twice the larger
    of ln V (a uniform guess) and the unigram baseline."""

    def __init__(self, vocab_size, baselines, warmup):
        self.uniform, self.baselines, self.warmup = math.log(vocab_size), baselines, warmup
        self.vocab_size = vocab_size
        self.limit = 2 * max(self.uniform, baselines["unigram"] if baselines else 0)

    def check(self, step, loss, which):
        """None while the run is sound; else what went wrong, for the message."""
        if step <= self.warmup or loss <= self.limit:
            return None
        b = self.baselines
        reference = ("the unigram baseline (%s)" % _g(b["unigram"], 3) if b and b["unigram"] > self.uniform
                     else "the %s of a uniform guess over %d tokens" % (_g(self.uniform, 3), self.vocab_size))
        return "training diverged: the %s loss at step %d is %s nats/token, more than twice %s; stopped without saving the weights." % (
            which, step, _g(loss, 3), reference)


class Trainer:
    """One rank of a run. `world` is (rank, world size); the global batch is split evenly across ranks."""

    def __init__(self, opts, config, device, rank=0, world=1):
        self.opts, self.config, self.device, self.rank, self.world = opts, config, device, rank, world
        self.local_batch = opts.batch_size // world

    def batch(self, sampler, tokens):
        """Draws the step's B windows from the shared stream (every rank draws all B starts, so the data position is
        the same at any world size) and returns this rank's b rows as (b, T + 1) int64."""
        window = self.opts.context_len + 1
        starts = [sampler.next_start(len(tokens), window) for _ in range(self.opts.batch_size)]
        mine = starts[self.rank * self.local_batch:(self.rank + 1) * self.local_batch]
        rows = numpy.stack([numpy.asarray(tokens[s:s + window]) for s in mine]).astype(numpy.int64)
        return torch.from_numpy(rows).to(self.device)

    def mean(self, value, stop):
        """(the mean of a float over ranks, whether any rank asked to stop), in one all-reduce. The mean is the global
        loss (every rank holds an equal share of the windows); the stop flag lets every rank end after the same step."""
        if self.world == 1:
            return value, stop
        t = torch.tensor([value, 1.0 if stop else 0.0], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t[0].item() / self.world, t[1].item() > 0

    def example_batch(self, sampler, examples):
        """Draws the step's B examples (every rank draws all B, as for windows) and returns this rank's b rows (b, T + 1),
        their (b, T) mask and the number of counted predictions in the whole step (the loss's denominator)."""
        picks = [examples.fill(sampler.next_index(len(examples.rows))) for _ in range(self.opts.batch_size)]
        count = float(sum(m.sum() for _, m in picks))
        mine = picks[self.rank * self.local_batch:(self.rank + 1) * self.local_batch]
        ids = torch.from_numpy(numpy.stack([i for i, _ in mine])).to(self.device)
        mask = torch.from_numpy(numpy.stack([m for _, m in mine])).to(self.device)
        return ids, mask, count

    def evaluate_examples(self, model, examples):
        """Mean cross-entropy over the counted predictions of eval_batches × batch_size examples spread evenly (all of
        them when there are fewer); batches dealt round-robin to ranks, the sums all-reduced."""
        o = self.opts
        n = len(examples.rows)
        count = min(o.eval_batches * o.batch_size, n)
        total, counted = 0.0, 0.0
        with torch.no_grad():
            for index, first in enumerate(range(0, count, o.batch_size)):
                if index % self.world != self.rank:
                    continue
                rows = [examples.fill(0 if count == 1 else (n - 1) * (first + b) // (count - 1)) for b in range(min(o.batch_size, count - first))]
                ids = torch.from_numpy(numpy.stack([i for i, _ in rows])).to(self.device)
                mask = torch.from_numpy(numpy.stack([m for _, m in rows])).to(self.device)
                logits = model(ids[:, :-1])
                total += masked_loss(logits, ids, mask, 1.0).item()
                counted += float(mask.sum())
        if self.world > 1:
            t = torch.tensor([total, counted], dtype=torch.float64, device=self.device)
            dist.all_reduce(t)
            total, counted = t[0].item(), t[1].item()
        return total / counted

    def evaluate(self, model, validation):
        """Mean cross-entropy over eval_batches × batch_size windows spread evenly over the validation tokens (the same
        windows every time); batches are dealt round-robin to ranks and the sums all-reduced."""
        if isinstance(validation, ExampleWindows):
            return self.evaluate_examples(model, validation)
        o = self.opts
        window = min(o.context_len + 1, len(validation))
        windows = o.eval_batches * o.batch_size
        span = len(validation) - window
        total = 0.0
        with torch.no_grad():
            for index, first in enumerate(range(0, windows, o.batch_size)):
                if index % self.world != self.rank:
                    continue
                count = min(o.batch_size, windows - first)
                starts = [0 if windows == 1 else span * (first + b) // (windows - 1) for b in range(count)]
                ids = torch.from_numpy(numpy.stack([numpy.asarray(validation[s:s + window]) for s in starts]).astype(numpy.int64)).to(self.device)
                logits = model(ids[:, :-1])
                total += F.cross_entropy(logits.reshape(-1, self.config.vocab_size), ids[:, 1:].reshape(-1)).item() * count
        if self.world > 1:
            t = torch.tensor([total], dtype=torch.float64, device=self.device)
            dist.all_reduce(t)
            total = t.item()
        return total / windows


def run(opts, config, paths, baselines, device, rank, world, report, stop_requested=lambda: False):
    """Trains; returns a dict of what the run produced. `report(...)` prints progress (rank 0 only). When
    `stop_requested()` turns true on any rank (Ctrl+C, or torchrun passing on SIGINT/SIGTERM), every rank finishes the
    same step, the checkpoint is written, and the result says the run did not complete."""
    trainer = Trainer(opts, config, device, rank, world)
    train, train_flags = open_tokens(paths["train"])
    validation, validation_flags = open_tokens(paths["validation"])
    examples = None
    if train_flags is not None:
        # Conversations: whole examples with the assistant replies' mask (BitLlamaTrainer's example path).
        window = opts.context_len + 1
        check_corpus(train, paths["train"], 1, "training", config.vocab_size)
        examples = ExampleWindows(train, train_flags, window, opts.train_on_all)
        if not examples.rows:
            raise ValueError("%s: none of the %d training examples has a trained token (an assistant reply) within its first %d tokens "
                             "(context_len + 1); use a larger --context-len or shorter conversations" % (paths["train"], examples.examples, window))
        held = ExampleWindows(validation, validation_flags, window, opts.train_on_all) if validation_flags is not None and len(validation) else None
        validation = held if held is not None and held.rows else None
    else:
        check_corpus(train, paths["train"], opts.context_len + 1, "training", config.vocab_size)
        if len(validation) >= 2:
            check_corpus(validation, paths["validation"], 2, "validation", config.vocab_size)
        else:
            validation = None
    torch.manual_seed(opts.seed)
    model = BitLlamaModel(config).to(device)
    initial_validation = None
    if getattr(opts, "init_from", None) and not opts.resume:
        start_config, tensors, source = initial_model(opts.init_from)
        grow_into(model, start_config, tensors, source, opts.seed)
        if validation is not None:
            initial_validation = trainer.evaluate(model, validation)
    optimizer, named = make_optimizer(model, opts.weight_decay)
    sampler, step, loss = WindowSampler.from_seed(opts.seed), 0, float("nan")
    checkpoint = os.path.join(opts.output, CHECKPOINT)
    if opts.resume:
        step, sampler, loss = load_checkpoint(checkpoint, config, model, optimizer, named)
    wrapped = model
    if world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    metrics = Metrics(opts.output, step) if rank == 0 else None
    start_step, last_saved = step, step if opts.resume else -1
    validation_loss, validation_step = None, -1
    stopping = False
    clock = time.monotonic()

    def diverged(what):
        where = "The last good checkpoint is %s (step %d)." % (checkpoint, last_saved) if last_saved >= 0 else "No checkpoint was written."
        return RuntimeError("%s %s Try a lower --lr or --inner-lr." % (what, where))
    divergence = Divergence(config.vocab_size, baselines, opts.warmup_steps)

    def save():
        nonlocal last_saved
        if last_saved == step:
            return
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            raise diverged("the weights became NaN or infinite by step %d; stopped without saving them." % step)
        if rank == 0:
            save_checkpoint(checkpoint, model, optimizer, named, step, sampler, loss)
        last_saved = step

    try:
        while step < opts.steps:
            if stopping or opts.stop_after_steps is not None and step - start_step >= opts.stop_after_steps:
                break
            lr = learning_rate(step, opts.steps, opts.lr, opts.min_lr, opts.warmup_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            if examples is None:
                ids = trainer.batch(sampler, train)                                                # (b, T + 1)
                logits = wrapped(ids[:, :-1])                                                      # (b, T, V)
                local = F.cross_entropy(logits.reshape(-1, config.vocab_size), ids[:, 1:].reshape(-1))
            else:
                ids, mask, count = trainer.example_batch(sampler, examples)                        # (b, T + 1), (b, T)
                logits = wrapped(ids[:, :-1])                                                      # (b, T, V)
                # DDP averages the ranks' gradients: each rank's share of the step's sum, times the world size.
                local = masked_loss(logits, ids, mask, count) * world
            loss, stopping = trainer.mean(local.item(), stop_requested())
            if not math.isfinite(loss):
                raise diverged("training loss became %s at step %d; stopped without updating the weights." % (_net_double(loss), step + 1))
            local.backward()                                                                       # DDP all-reduces (averages) here
            torch.nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            too_high = divergence.check(step, loss, "training")
            if too_high:
                raise diverged(too_high)
            evaluate = validation is not None and (opts.eval_interval > 0 and step % opts.eval_interval == 0 or step == opts.steps)
            if evaluate:
                validation_loss, validation_step = trainer.evaluate(model, validation), step
                too_high = divergence.check(step, validation_loss, "validation")
                if too_high:
                    raise diverged(too_high)
            elapsed = time.monotonic() - clock
            tokens_per_s = (step - start_step) * opts.batch_size * opts.context_len / max(elapsed, 1e-9)
            if metrics:
                metrics.append(step, lr, loss, validation_loss if evaluate else None, tokens_per_s, elapsed)
                report(step, lr, loss, tokens_per_s, elapsed, validation_loss if evaluate else None)
            if step % opts.save_interval == 0:
                save()
        completed = step >= opts.steps
        if validation is not None and validation_step != step:
            validation_loss = trainer.evaluate(model, validation)
            too_high = divergence.check(step, validation_loss, "validation")
            if too_high:
                raise diverged(too_high)
        save()
    finally:
        if metrics:
            metrics.close()
    return {"model": model, "step": step, "start_step": start_step, "completed": completed, "stopped": stopping, "loss": loss,
            "validation_loss": validation_loss, "checkpoint": checkpoint if last_saved >= 0 else None,
            "initial_validation_loss": initial_validation,
            "examples": None if examples is None else {"examples": examples.examples, "trained": len(examples.rows), "cut": examples.cut}}
