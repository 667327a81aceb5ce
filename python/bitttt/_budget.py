"""--time-budget of python3 -m bitttt.train: the twin of BitTtt.Training's TimeBudgetPlanner (docs/training.md, "Time
budget"). The vocabulary comes from the text's size; the width, depth, batch, learning rate and steps from the number of
training tokens and each candidate shape's step time, measured here with the run's own threads and device. The rule and
its constants are the .NET planner's, so both trainers plan alike on the same machine.
"""
import math
import os
import re
import time

MIN_STEPS = 300             # a budget that leaves fewer steps than this rules a shape out
TOKENS_PER_PARAMETER = 20   # training tokens per body parameter a shape must see to be chosen over a smaller one
MAX_EPOCHS = 16             # most passes over the training tokens a planned run makes
OVERHEAD = 0.12             # share of the budget left for what is not a training step
DEFAULT_WARMUP = 100        # TrainingDefaults.WarmupSteps

# (dim, layers, batch, peak lr), smallest first: TimeBudgetPlanner.Shapes.
SHAPES = [(64, 2, 8, 2e-3), (96, 3, 8, 1.5e-3), (128, 4, 8, 1e-3), (192, 6, 16, 7e-4), (256, 8, 16, 5e-4),
          (384, 10, 16, 4e-4), (512, 12, 16, 3e-4)]


def vocabulary_for(text_bytes):
    """TimeBudgetPlanner.VocabularyFor: small texts get small vocabularies."""
    for limit, size in ((2_000_000, 512), (8_000_000, 1024), (32_000_000, 2048), (128_000_000, 4096)):
        if text_bytes < limit:
            return size
    return 8192


def text_bytes(data):
    """UTF-8 bytes of the --data files: a file, or every *.txt under a directory."""
    total = 0
    for path in data:
        if os.path.isdir(path):
            for root, _, files in os.walk(path):
                total += sum(os.path.getsize(os.path.join(root, f)) for f in files if f.endswith(".txt"))
        elif os.path.isfile(path):
            total += os.path.getsize(path)
    return total


def parse(text):
    """10m, 90s, 1h30m, 2.5m or 00:10:00 as seconds; None when it is none of these (TimeBudgetPlanner.TryParse)."""
    text = (text or "").strip()
    if not text:
        return None
    m = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d*)?)", text)
    if m:
        seconds = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        return seconds if seconds > 0 else None
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)([hms])", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        return None
    seconds = sum(float(a) * {"h": 3600, "m": 60, "s": 1}[b] for a, b in parts)
    return seconds if 0 < seconds < 1e9 else None


def fmt(seconds):
    """A budget as the flag spells it: 10m, 1h30m, 45s (TimeBudgetPlanner.Format)."""
    seconds = int(seconds)
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return ("%dh" % h if h else "") + ("%dm" % m if m else "") + ("%ds" % s if s or not (h or m) else "")


def body_parameters(dim, layers, delta, inner, ttt_dim, intermediate):
    """Parameters in the blocks' matrix products, the embedding and LM head left out (TimeBudgetPlanner.BodyParameters)."""
    mixer = 4 * dim * inner if delta else 2 * dim * ttt_dim
    return layers * (mixer + 3 * dim * intermediate)


def plan(o, vocab_size, train_tokens, budget, given, seconds_per_step, config_of):
    """The shape, batch, lr, warm-up and steps for `budget` seconds (TimeBudgetPlanner.Plan). `given` holds the option
    names the user set (dim, layers, batch_size, lr, warmup_steps, steps): those keep their values. `seconds_per_step(o)`
    measures a candidate; `config_of(o)` is its ModelConfig. Returns (plan dict, trial lines)."""
    clock = time.monotonic()
    shapes = SHAPES
    if "dim" in given and "layers" in given:
        nearest = min(SHAPES, key=lambda s: abs(s[0] - o.dim))
        shapes = [(o.dim, o.layers, nearest[2], nearest[3])]
    trials, chosen = [], None
    for dim, layers, batch, lr in shapes:
        c = _Candidate(o, dim if "dim" not in given else o.dim, layers if "layers" not in given else o.layers,
                       batch if "batch_size" not in given else o.batch_size, lr if "lr" not in given else o.lr)
        seconds = seconds_per_step(c)
        left = budget * (1 - OVERHEAD) - (time.monotonic() - clock)
        affordable = int(min(max(left / seconds, 0), 2 ** 31 - 1))
        per_step = c.batch_size * c.context_len
        steps = o.steps if "steps" in given else int(min(affordable, max(1, MAX_EPOCHS * train_tokens // per_step)))
        cfg = config_of(c)
        body = body_parameters(cfg.hidden_dim, cfg.num_layers, cfg.ttt_type == "delta", cfg.ttt_heads * cfg.head_dim, cfg.hidden_dim // 4, cfg.intermediate)
        ratio = steps * per_step / body
        what = "D=%dx%d, batch %d: %.3g s/step, %d steps affordable, %.1f tokens per body parameter" % (c.dim, c.layers, c.batch_size, seconds, affordable, ratio)
        takeable = affordable >= MIN_STEPS and ratio >= TOKENS_PER_PARAMETER
        if chosen is None or takeable:
            chosen = (c, seconds, steps, body)
            trials.append(what + (": fits" if takeable else ": the smallest shape, taken as the fallback"))
        else:
            trials.append(what + (": fewer than %d steps" % MIN_STEPS if affordable < MIN_STEPS else ": fewer than %d tokens per parameter" % TOKENS_PER_PARAMETER))
            break
        if affordable < MIN_STEPS:
            break
    c, seconds, steps, body = chosen
    warmup = o.warmup_steps if "warmup_steps" in given else min(DEFAULT_WARMUP, max(1, steps // 20))
    return ({"dim": c.dim, "layers": c.layers, "batch_size": c.batch_size, "lr": c.lr, "warmup_steps": warmup, "steps": max(1, steps),
             "seconds_per_step": seconds, "epochs": steps * c.batch_size * c.context_len / max(1, train_tokens)}, trials)


def apply(o, p):
    """Sets the plan on the parsed options (TimeBudgetPlanner.Apply)."""
    o.dim, o.layers, o.batch_size, o.lr, o.warmup_steps, o.steps = p["dim"], p["layers"], p["batch_size"], p["lr"], p["warmup_steps"], p["steps"]
    o.min_lr = min(o.min_lr, o.lr)


def describe(p, budget):
    return "time budget %s: D=%d, %d layers, batch %d, lr %s, %d steps (%.3g s/step measured, %.1f passes over the training tokens)" % (
        fmt(budget), p["dim"], p["layers"], p["batch_size"], "%.4g" % p["lr"], p["steps"], p["seconds_per_step"], p["epochs"])


class _Candidate:
    """The parsed options with one shape's width, depth, batch and lr."""

    def __init__(self, o, dim, layers, batch, lr):
        self.__dict__.update(vars(o))
        self.dim, self.layers, self.batch_size, self.lr = dim, layers, batch, lr
        self.min_lr = min(o.min_lr, lr)


def measure_seconds_per_step(o, config, device, warmup=1, timed=2):
    """Wall seconds of one training step of a new model on random tokens, the best of `timed` after `warmup`
    (BitLlamaTrainer.MeasureSecondsPerStep). torch's generator is reseeded by the run itself afterwards."""
    import torch
    import torch.nn.functional as F
    from . import _trainer
    from .torch import BitLlamaModel
    torch.manual_seed(o.seed)
    model = BitLlamaModel(config).to(device)
    optimizer, _ = _trainer.make_optimizer(model, o.weight_decay)
    for group in optimizer.param_groups:
        group["lr"] = o.lr
    best = math.inf
    for step in range(warmup + timed):
        ids = torch.randint(0, config.vocab_size, (o.batch_size, o.context_len + 1), device=device)
        start = time.monotonic()
        logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, config.vocab_size), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            best = min(best, time.monotonic() - start)
    return best
