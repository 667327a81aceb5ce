"""A tiny model trained by the real .NET trainer (`bit-llama train`), once per test process, and the
managed engine's reference logits (`bit-llama logits`). The package under test is whatever `import
bitttt` finds (CI: the wheel installed into a fresh venv)."""
import atexit
import json
import os
import shutil
import subprocess
import tempfile
import threading

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_lock = threading.Lock()
_model = None
_delta_model = None


def bit_llama():
    """The CLI: $BIT_LLAMA, else the Release build in the repository, else `dotnet run`."""
    explicit = os.environ.get("BIT_LLAMA")
    if explicit:
        return explicit.split()
    built = os.path.join(REPO, "src", "BitTtt.Cli", "bin", "Release", "net10.0", "bit-llama")
    if os.path.exists(built):
        return [built]
    return ["dotnet", "run", "--project", os.path.join(REPO, "src", "BitTtt.Cli"), "-c", "Release", "--"]


def run_cli(*args):
    result = subprocess.run(bit_llama() + list(args), capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError("bit-llama %s failed (%d):\n%s\n%s" % (" ".join(args), result.returncode, result.stdout[-2000:], result.stderr[-2000:]))
    return result.stdout


def run_cli_input(stdin, *args):
    """bit-llama with `stdin` as its standard input; its standard output."""
    result = subprocess.run(bit_llama() + list(args), input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError("bit-llama %s failed (%d):\n%s" % (" ".join(args), result.returncode, result.stderr[-2000:]))
    return result.stdout


_chat_model = None
PLANS = ("Bronze", "Silver", "Gold", "Platinum")


def tiny_chat_model():
    """A tiny model trained by `bit-llama train` on 80 conversations (a .jsonl file): it stores the chat template."""
    global _chat_model
    with _lock:
        if _chat_model is None:
            root = tempfile.mkdtemp(prefix="bitttt-py-tests-")
            atexit.register(shutil.rmtree, root, True)
            chats = os.path.join(root, "chats.jsonl")
            with open(chats, "w", encoding="utf-8") as f:
                for i in range(80):
                    plan = PLANS[i % 4]
                    f.write(json.dumps({"messages": [{"role": "system", "content": "Plan: %s." % plan},
                                                     {"role": "user", "content": "Which plan am I on?"},
                                                     {"role": "assistant", "content": "You are on the %s plan." % plan}]}) + "\n")
            out = os.path.join(root, "chat")
            run_cli("train", "--data", chats, "--vocab-size", "300", "--dim", "32", "--layers", "1", "--context-len", "32",
                    "--batch-size", "4", "--steps", "30", "--warmup-steps", "5", "--lr", "2e-3", "--eval-interval", "0", "--output", out)
            _chat_model = out
    return _chat_model


def _train(name, *extra):
    root = tempfile.mkdtemp(prefix="bitttt-py-tests-")
    atexit.register(shutil.rmtree, root, True)
    with open(os.path.join(REPO, "data", "moby-dick.txt"), encoding="utf-8") as f:
        corpus = f.read(120_000)
    corpus_path = os.path.join(root, "corpus.txt")
    with open(corpus_path, "w", encoding="utf-8") as f:
        f.write(corpus)
    out = os.path.join(root, name)
    run_cli("train", "--data", corpus_path, "--vocab-size", "300", "--dim", "32", "--layers", "1",
            "--context-len", "32", "--batch-size", "4", "--steps", "30", "--warmup-steps", "5",
            "--lr", "2e-3", "--eval-interval", "0", "--output", out, *extra)
    return out


def tiny_model():
    """Directory with config.json, tokenizer.json, model.safetensors and model.bitt (dim 32, 1 layer, 30 steps)
    of the seed's TTT layer ("reconstruct"), which the seed's Python API (cortex_rust) describes."""
    global _model
    with _lock:
        if _model is None:
            # ttt_chunk 4: the 40-token parity sequence crosses ten TTT chunk boundaries.
            _model = _train("tiny", "--ttt-type", "reconstruct", "--ttt-chunk", "4")
    return _model


def tiny_delta_model():
    """The same tiny shape with the delta-rule TTT layer, what `bit-llama train` trains by default."""
    global _delta_model
    with _lock:
        if _delta_model is None:
            _delta_model = _train("tiny-delta", "--ttt-heads", "2", "--ttt-conv", "4")
    return _delta_model


def reference_logits(model_path, ids):
    """bit-llama logits: one row of vocab_size floats per position, token by token from a zero state."""
    text = run_cli("logits", model_path, "--tokens", ",".join(str(i) for i in ids))
    return json.loads(text)["logits"]


def corpus_text(start=5000, length=600):
    with open(os.path.join(REPO, "data", "moby-dick.txt"), encoding="utf-8") as f:
        return f.read(start + length)[start:]
