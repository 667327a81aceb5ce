"""Helpers of the twin tests: the CLI's logits (managed engine and TorchSharp), random twin models, and training runs of
python3 -m bitttt.train started as torchrun would start them (one process per rank, env:// variables)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

import torch

import fixture
from bitttt.torch import BitLlamaModel, ModelConfig

REPO = fixture.REPO


def scratch(test):
    """A temporary directory removed after the test."""
    path = tempfile.mkdtemp(prefix="bitttt-twin-")
    test.addCleanup(shutil.rmtree, path, True)
    return path


def cli_logits(model_path, ids, engine):
    """bit-llama logits --engine managed (fp32 LM head)|torch: (T, V) from a zero state, token by token."""
    # The managed engine's default LM head is int8 (~4e-3 from fp32 logits); parity is with its fp32 head.
    head = ["--fp32-lm-head"] if engine == "managed" else []
    text = fixture.run_cli("logits", model_path, "--tokens", ",".join(str(i) for i in ids), "--engine", engine, *head)
    return torch.tensor(json.loads(text)["logits"])


def twin_logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids]))[0]


def relative(a, b):
    """max |a − b| / max |b|: the figure the parity tests bound."""
    return float((a - b).abs().max() / b.abs().max())


def random_model(ttt_type, seed, vocab=97, dim=32, layers=2, chunk=4):
    """A twin with every weight random (convolutions and β bias too, not their identity/zero start)."""
    extra = dict(ttt_heads=2, ttt_conv=3, inner_lr=1.0) if ttt_type == "delta" else dict(inner_lr=0.3)
    config = ModelConfig(vocab_size=vocab, hidden_dim=dim, num_layers=layers, ttt_chunk=chunk, ttt_type=ttt_type,
                         intermediate_dim=dim * 3, **extra)
    torch.manual_seed(seed)
    model = BitLlamaModel(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "conv" in name or "beta_proj.bias" in name or "norm" in name:
                p.add_(torch.randn_like(p) * 0.3)
    return model


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(args, world=1, timeout=300):
    """Runs python3 -m bitttt.train with `world` processes, each given the env:// variables torchrun sets and one
    thread; returns [(exit code, stdout, stderr)] by rank."""
    return wait(start(args, world), timeout)


def _default_sigint():
    # A background job of a non-interactive shell (as CI runs) starts with SIGINT ignored, and the trainer keeps an
    # ignored signal ignored; the ranks get the default disposition, as under a terminal or torchrun.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args, world=1):
    """The processes of train(), started and not waited for."""
    port = free_port()
    procs = []
    for rank in range(world):
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        for name in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
            env.pop(name, None)
        if world > 1:
            env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
        procs.append(subprocess.Popen([sys.executable, "-m", "bitttt.train"] + list(args) + ["--threads", "1"], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint))
    return procs


def wait(procs, timeout=300):
    """[(exit code, stdout, stderr)] of started processes; any still running after `timeout` seconds is killed."""
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            results.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def corpus(directory, chars=60_000):
    """The first `chars` characters of the bundled corpus as a text file."""
    with open(os.path.join(REPO, "data", "moby-dick.txt"), encoding="utf-8") as f:
        text = f.read(chars)
    path = os.path.join(directory, "corpus.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def tiny_flags(data, output, *extra, lr="1e-3", steps=20):
    """A tiny shape: a whole 20-step run takes seconds on one thread. At lr 1e-3 no weight or activation of these runs
    crosses a ternary/int8 rounding edge differently when the batch is split over processes; at 3e-3 one does
    (delta, step 9), and from there two runs part as any two float reductions of one batch may (docs/distributed.md)."""
    return ["--data", data, "--output", output, "--vocab-size", "264", "--dim", "16", "--layers", "1", "--context-len", "16",
            "--batch-size", "4", "--steps", str(steps), "--warmup-steps", "3", "--lr", lr, "--eval-interval", "10",
            "--eval-batches", "2", "--save-interval", "10"] + list(extra)
