"""python3 -m bitttt.train: train a BitLlama with PyTorch, on one process or many (DistributedDataParallel).

The flags, defaults and outputs are bit-llama train's (OUTPUT/tokenizer.json, tokens.bin, val.bin,
checkpoint.safetensors, metrics.csv, baselines.json, config.json + model.safetensors and model.bitt), and the
checkpoint is the TorchSharp trainer's format: either trainer resumes the other's run.

    python3 -m bitttt.train --data corpus.txt --output runs/x                         # one process
    torchrun --nproc_per_node 8 -m bitttt.train --data corpus.txt --output runs/x --device cuda
    torchrun --nnodes 2 --node_rank 0 --rdzv_endpoint HOST:29500 --nproc_per_node 8 -m bitttt.train ...

Under torchrun (or with the env:// variables it sets: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK) each
rank takes batch-size / world-size windows of every step, gradients are averaged by DDP (gloo on CPU, NCCL on
CUDA), and rank 0 writes every file, atomically. --output must be a directory every rank can read (on several
nodes: a shared file system). A checkpoint resumes under any world size that divides the batch.
"""
import argparse
import datetime
import json
import os
import signal
import sys
import time

_TTT_TYPES = ("delta", "reconstruct")
# The files that mark OUTPUT as an earlier run's (bit-llama train's rule): replaced only with --force.
_RUN_FILES = ("checkpoint.safetensors", "model.bitt", "model.safetensors")
_DELTA_ONLY = ("ttt_heads", "ttt_head_dim", "ttt_conv")
# What a model from --init-from brings, in bit-llama train's order: their flags beside it are errors.
_SHAPE = ("dim", "layers", "intermediate_dim", "ttt_type", "inner_lr", "ttt_chunk", "ttt_heads", "ttt_head_dim", "ttt_conv")

# (flag, type, default, help) in bit-llama train's order; defaults are docs/model.md §5's (TrainingDefaults).
FLAGS = [
    ("--data", list, None, "UTF-8 text file, or a directory: every *.txt under it in path order, or a .jsonl file of conversations; repeat for several, read in the order given (the last 5%% of all the text, or of the conversations, is held out for validation)"),
    ("--format", str, "auto", "what --data holds: auto (conversations when every file's first line is {\"messages\": [...]}, as OpenAI fine-tuning files; else text), text or chat"),
    ("--init-from", str, None, "fine-tune: start from this model (.bitt, model directory or checkpoint) and its tokenizer; its shape replaces --dim, --layers and the TTT flags, the schedule is this run's"),
    ("--train-on-all", bool, False, "on conversations, count the loss on every token, not only the assistant replies"),
    ("--tokenizer", str, None, "tokenizer.json to use, or 'gpt2' (default: train a byte-level BPE tokenizer on --data)"),
    ("--vocab-size", int, 4096, "vocabulary size of the tokenizer trained on --data (263 to the tokenizer size limit; the last four ids are the chat tokens)"),
    ("--dim", int, 256, "hidden dimension (multiple of 4)"),
    ("--layers", int, 8, "number of blocks"),
    ("--intermediate-dim", int, 0, "SwiGLU width (0 = 4 * dim)"),
    ("--context-len", int, 128, "tokens per training window"),
    ("--batch-size", int, 16, "windows per step, over all processes (each takes batch-size / world-size)"),
    ("--lr", float, 3e-4, "peak learning rate"),
    ("--warmup-steps", int, 100, "linear warmup steps"),
    ("--min-lr", float, 1e-5, "learning rate at the last step (cosine decay)"),
    ("--save-interval", int, 500, "steps between checkpoints"),
    ("--steps", int, 1000, "total steps of the schedule"),
    ("--ttt-type", str, "delta", "TTT layer: delta (delta rule with heads and a short convolution) or reconstruct (the seed's layer)"),
    ("--inner-lr", float, None, "TTT inner learning rate: delta's scale of the per-token rate beta (default 1.0), reconstruct's step eta (default 0.1)"),
    ("--ttt-chunk", int, 16, "reconstruct: TTT mini-batch size; delta: block size of the parallel training form (same result for any value)"),
    ("--ttt-heads", int, 4, "delta: heads"),
    ("--ttt-head-dim", int, 0, "delta: width of one head (0 = dim / heads)"),
    ("--ttt-conv", int, 4, "delta: kernel of the short causal convolution on q, k, v (0 = none)"),
    ("--seed", int, 42, "random seed (initialization and window sampling)"),
    ("--eval-interval", int, 100, "steps between validation losses (0 = only at the end)"),
    ("--eval-batches", int, 8, "batches of --batch-size windows per validation loss"),
    ("--weight-decay", float, 0.1, "AdamW weight decay (matrices only)"),
    ("--grad-clip", float, 1.0, "maximum global gradient L2 norm"),
    ("--device", str, "cpu", "cpu or cuda (under torchrun: cuda:LOCAL_RANK; gloo on cpu, NCCL on cuda)"),
    ("--threads", int, 0, "torch threads per process (0 = all cores, or OMP_NUM_THREADS when set, as torchrun does)"),
    ("--output", str, None, "output directory: tokenizer, tokens, checkpoint, model"),
    ("--resume", bool, False, "continue the run in OUTPUT from its checkpoint.safetensors"),
    ("--force", bool, False, "start over in an OUTPUT that holds an earlier run, replacing its checkpoint and model"),
    ("--stop-after-steps", int, None, "end this invocation after N steps with a checkpoint (continue later with --resume)"),
    ("--time-budget", str, None, "wall-clock budget such as 10m, 90s or 1h30m: picks --dim, --layers, --batch-size, --lr, --warmup-steps, "
                                 "--steps (and --vocab-size) for this machine and text; flags given explicitly are kept"),
]


class UsageError(ValueError):
    """Bad input: one line naming the flag or file, exit code 1 (bit-llama's convention)."""


def parser():
    p = argparse.ArgumentParser(prog="python3 -m bitttt.train", description="Train a BitLlama model on a text file (PyTorch, DDP).")
    for flag, kind, default, text in FLAGS:
        if kind is bool:
            p.add_argument(flag, action="store_true", help=text)
        elif kind is list:
            p.add_argument(flag, action="append", required=True, metavar=flag[2:].upper(), help=text)
        else:
            shown = "" if default is None else " [default: %s]" % default
            p.add_argument(flag, type=kind, default=default, required=flag in ("--data", "--output"), help=text + shown)
    return p


def validate(o, given):
    """TrainingOptions.Validate in flag names; `given` holds the flags typed on the command line."""
    def check(ok, message):
        if not ok:
            raise UsageError(message)
    check(o.format in ("auto", "text", "chat"), "--format must be 'auto', 'text' or 'chat', got '%s'" % o.format)
    if o.init_from is not None:
        # The model's shape and tokenizer come from --init-from: their flags would be silently ignored (bit-llama train's rule).
        for name in _SHAPE:
            check(name not in given, "--%s: the model's shape comes from --init-from %s; leave --%s out" % (name.replace("_", "-"), o.init_from, name.replace("_", "-")))
        for name in ("tokenizer", "vocab_size"):
            check(name not in given, "--%s: a run from --init-from uses that model's tokenizer; leave --%s out" % (name.replace("_", "-"), name.replace("_", "-")))
    check(o.dim > 0 and o.dim % 4 == 0, "--dim must be a positive multiple of 4, got %d" % o.dim)
    check(o.layers > 0, "--layers must be positive, got %d" % o.layers)
    check(o.intermediate_dim >= 0, "--intermediate-dim must be >= 0 (0 = 4 * --dim), got %d" % o.intermediate_dim)
    check(o.context_len > 0, "--context-len must be positive, got %d" % o.context_len)
    check(o.batch_size > 0, "--batch-size must be positive, got %d" % o.batch_size)
    check(o.lr > 0 and o.lr < float("inf"), "--lr must be a finite number > 0, got %r" % o.lr)
    check(o.warmup_steps >= 0, "--warmup-steps must be >= 0, got %d" % o.warmup_steps)
    check(0 <= o.min_lr <= o.lr, "--min-lr must be between 0 and --lr (%r), got %r" % (o.lr, o.min_lr))
    check(o.save_interval > 0, "--save-interval must be positive, got %d" % o.save_interval)
    check(o.steps > 0, "--steps must be positive, got %d" % o.steps)
    check(o.ttt_type in _TTT_TYPES, "--ttt-type must be 'delta' or 'reconstruct', got '%s'" % o.ttt_type)
    if o.ttt_type == "reconstruct":
        for name in _DELTA_ONLY:
            check(name not in given, "--%s applies only to --ttt-type delta" % name.replace("_", "-"))
    check(o.inner_lr is None or 0 <= o.inner_lr < float("inf"), "--inner-lr must be a finite number >= 0, got %r" % o.inner_lr)
    check(o.ttt_chunk > 0, "--ttt-chunk must be positive, got %d" % o.ttt_chunk)
    if o.ttt_type == "delta":
        check(o.ttt_heads > 0, "--ttt-heads must be positive, got %d" % o.ttt_heads)
        check(o.ttt_head_dim >= 0, "--ttt-head-dim must be >= 0 (0 = --dim / --ttt-heads), got %d" % o.ttt_head_dim)
        check(o.ttt_head_dim > 0 or o.dim % o.ttt_heads == 0, "--ttt-heads (%d) must divide --dim (%d) unless --ttt-head-dim is given" % (o.ttt_heads, o.dim))
        check(o.ttt_conv >= 0, "--ttt-conv must be >= 0 (0 = no convolution), got %d" % o.ttt_conv)
    check(o.weight_decay >= 0, "--weight-decay must be >= 0, got %r" % o.weight_decay)
    check(o.grad_clip > 0, "--grad-clip must be positive, got %r" % o.grad_clip)
    check(o.eval_interval >= 0, "--eval-interval must be >= 0 (0 = only at the end), got %d" % o.eval_interval)
    check(o.eval_batches > 0, "--eval-batches must be positive, got %d" % o.eval_batches)
    check(o.threads >= 0, "--threads must be >= 0 (0 = all cores), got %d" % o.threads)
    check(o.stop_after_steps is None or o.stop_after_steps > 0, "--stop-after-steps must be positive, got %s" % o.stop_after_steps)
    check(o.device == "cpu" or o.device == "cuda" or o.device.startswith("cuda:"), "--device must be cpu or cuda, got '%s'" % o.device)
    if o.time_budget is not None:
        from . import _budget
        seconds = _budget.parse(o.time_budget)
        check(seconds is not None, "--time-budget must be a duration such as 10m, 90s, 1h30m or 00:10:00, got '%s'" % o.time_budget)
        check(o.init_from is None, "--time-budget sizes a new model; a fine-tune takes its shape from --init-from, so give its steps instead")
        check(not o.resume, "--time-budget plans a new run; to continue one, resume with the shape and steps its plan chose "
                            "(printed at its start) instead of --time-budget")
        o.time_budget_seconds = seconds
    if o.inner_lr is None:
        o.inner_lr = 1.0 if o.ttt_type == "delta" else 0.1


def model_config(o, vocab_size):
    from ._config import ModelConfig
    if o.init_from is not None:
        # The initial model's config (its stored fields kept), this run's context_len, room for the tokenizer's ids.
        from ._trainer import initial_model
        config, _, source = initial_model(o.init_from)
        config.context_len, config.vocab_size = o.context_len, max(vocab_size, config.vocab_size)
        return config.validate(source)
    delta = o.ttt_type == "delta"
    return ModelConfig(vocab_size=vocab_size, hidden_dim=o.dim, num_layers=o.layers, inner_lr=o.inner_lr,
                       intermediate_dim=o.intermediate_dim, ttt_chunk=o.ttt_chunk, context_len=o.context_len, ttt_type=o.ttt_type,
                       ttt_heads=o.ttt_heads if delta else 4, ttt_head_dim=o.ttt_head_dim if delta else 0,
                       ttt_conv=o.ttt_conv if delta else 4).validate("training options")


def world():
    """(rank, world size, local rank) from torchrun's env:// variables; (0, 1, 0) without them."""
    def number(name, default):
        value = os.environ.get(name)
        if value is None:
            return default
        if not value.isdigit():
            raise UsageError("environment variable %s must be a non-negative integer, got '%s'" % (name, value))
        return int(value)
    size = number("WORLD_SIZE", 1)
    rank, local = number("RANK", 0), number("LOCAL_RANK", 0)
    if size < 1 or rank >= size:
        raise UsageError("RANK %d is outside WORLD_SIZE %d" % (rank, size))
    return rank, size, local


def _log(rank, text):
    if rank == 0:
        print("bitttt.train: " + text, file=sys.stderr, flush=True)


def prepare(o, rank, size, dist):
    """Rank 0 tokenizes (bitttt_corpus_prepare: the .NET code bit-llama train uses) and tells every rank the outcome,
    so an error there is the same error on every rank rather than a hang."""
    outcome = None
    if rank == 0:
        try:
            from . import _native
            request = {"data": o.data, "output": o.output, "tokenizer": o.tokenizer, "log_prefix": "bitttt.train: ",
                       "vocab_size": o.vocab_size if "vocab_size" in o.given else None, "reuse": bool(o.resume),
                       "format": o.format, "init_from": o.init_from}
            outcome = {"ok": json.loads(_native.read_string(_native.lib().bitttt_corpus_prepare, json.dumps(request).encode("utf-8")))}
        except Exception as e:   # every failure is sent to the other ranks, which otherwise wait here for ever
            environment = isinstance(e, ImportError) or isinstance(e, OSError) and not isinstance(e, FileNotFoundError)
            outcome = {"error": str(e), "exit": 2 if environment else 1}
    if size > 1:
        box = [outcome]
        dist.broadcast_object_list(box, src=0)
        outcome = box[0]
    if "error" in outcome:
        raise (OSError if outcome["exit"] == 2 else UsageError)(outcome["error"])
    return outcome["ok"]


def main(argv=None):
    args = parser().parse_args(argv)
    args.given = {a[2:].split("=")[0].replace("-", "_") for a in (argv if argv is not None else sys.argv[1:]) if a.startswith("--")}
    rank = 0
    try:
        validate(args, args.given)
        rank, size, local = world()
        if args.batch_size % size != 0:
            raise UsageError("--batch-size %d is not a multiple of the world size %d (each process takes batch-size / world-size windows)"
                             % (args.batch_size, size))
        if args.device.startswith("cuda"):
            import torch
            if not torch.cuda.is_available():
                raise UsageError("--device %s: this PyTorch sees no CUDA device (torch.cuda.is_available() is False)" % args.device)
        if args.resume and args.force:
            raise UsageError("--resume continues the run in --output and --force replaces it: give one of them")
        earlier = next((f for f in _RUN_FILES if os.path.exists(os.path.join(args.output, f))), None)
        if not args.resume and not args.force and earlier:
            raise UsageError("%s holds an earlier run (%s); --resume continues it, --force starts over and replaces it, or choose another --output"
                             % (args.output, earlier))
        checkpoint = os.path.join(args.output, "checkpoint.safetensors")
        if args.resume and not os.path.exists(checkpoint):
            raise UsageError("--resume: no checkpoint at %s (run without --resume to start training)" % checkpoint)
        return _train(args, rank, size, local)
    except UsageError as e:
        print("bitttt.train: error: %s" % e, file=sys.stderr, flush=True)
        return 1
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print("bitttt.train: error: %s" % e, file=sys.stderr, flush=True)
        return 1
    except OSError as e:
        print("bitttt.train: error: %s" % e, file=sys.stderr, flush=True)
        return 2


def _train(args, rank, size, local):
    import torch
    import torch.distributed as dist
    from . import _trainer
    device = torch.device("cpu") if args.device == "cpu" else torch.device("cuda", local if args.device == "cuda" else int(args.device[5:]))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    threads = args.threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or os.cpu_count()
    torch.set_num_threads(threads)
    if size > 1:
        # The other ranks wait in a collective while rank 0 tokenizes the corpus; the 30-minute default would end a run
        # whose tokenizer training takes longer (a few GB of text).
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://", rank=rank, world_size=size,
                                timeout=datetime.timedelta(hours=4))
    try:
        started = time.monotonic()
        if args.time_budget is not None and "vocab_size" not in args.given and args.tokenizer is None:
            from . import _budget
            text = _budget.text_bytes(args.data)
            args.vocab_size = _budget.vocabulary_for(text)
            args.given = args.given | {"vocab_size"}
            _log(rank, "time budget: a %d-token vocabulary for %s bytes of text" % (args.vocab_size, format(text, ",")))
        corpus = prepare(args, rank, size, dist)
        if args.time_budget is not None:
            _plan_for_budget(args, corpus, device, rank, size, dist, args.time_budget_seconds - (time.monotonic() - started))
        config = model_config(args, corpus["vocab_size"])
        baselines = corpus["baselines"]
        if rank == 0 and baselines is not None:
            _trainer.write_baselines(args.output, baselines, corpus["train_tokens"], corpus["validation_tokens"])
            _log(rank, "n-gram baselines on the validation split (nats/token): unigram %.2f  KN-bigram %.2f  KN-trigram %.2f"
                 % (baselines["unigram"], baselines["bigram"], baselines["trigram"]))
        if rank == 0 and size > 1:
            _log(rank, "DistributedDataParallel over %d processes (%s), %d windows each per step" % (size, dist.get_backend(), args.batch_size // size))
        paths = {"train": os.path.join(args.output, "tokens.bin"), "validation": os.path.join(args.output, "val.bin")}
        every = max(1, args.steps // 20)

        def report(step, lr, loss, tokens_per_s, elapsed, val):
            if step % every == 0 or val is not None or step == args.steps:
                _log(rank, "step %d/%d  loss %.4f  lr %.2e  %.0f tok/s%s" % (step, args.steps, loss, lr, tokens_per_s,
                                                                            "" if val is None else "  val %.4f" % val))
        stop = _StopOnSignal(rank)
        try:
            result = _trainer.run(args, config, paths, baselines, device, rank, size, report, stop.requested)
        finally:
            stop.restore()
        if rank == 0:
            _finish(args, result, baselines, corpus.get("chat"))
        return 130 if result["stopped"] and not result["completed"] else 0
    finally:
        if size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _plan_for_budget(args, corpus, device, rank, size, dist, left):
    """Rank 0 measures the candidate shapes and plans (bit-llama train's rule, bitttt._budget); every rank applies the
    same plan."""
    from . import _budget
    if left <= 0:
        raise UsageError("--time-budget %s was spent before training started (tokenizing took longer); give a larger budget" % args.time_budget)
    chosen = None
    if rank == 0:
        _log(rank, "time budget: measuring step times for %s training tokens ..." % format(corpus["train_tokens"], ","))
        chosen, trials = _budget.plan(args, corpus["vocab_size"], corpus["train_tokens"], left, args.given,
                                      lambda c: _budget.measure_seconds_per_step(c, model_config(c, corpus["vocab_size"]), device),
                                      lambda c: model_config(c, corpus["vocab_size"]))
        for trial in trials:
            _log(rank, "  " + trial)
        _log(rank, _budget.describe(chosen, args.time_budget_seconds))
        _log(rank, "the same run without the budget: --vocab-size %d --dim %d --layers %d --batch-size %d --lr %s --warmup-steps %d --steps %d"
             % (corpus["vocab_size"], chosen["dim"], chosen["layers"], chosen["batch_size"], "%.6g" % chosen["lr"], chosen["warmup_steps"], chosen["steps"]))
    if size > 1:
        box = [chosen]
        dist.broadcast_object_list(box, src=0)
        chosen = box[0]
    _budget.apply(args, chosen)
    if args.batch_size % size != 0:
        raise UsageError("the time budget's --batch-size %d is not a multiple of the world size %d; give --batch-size" % (args.batch_size, size))


class _StopOnSignal:
    """Ctrl+C (SIGINT) or SIGTERM, which torchrun passes on to every rank: finish the current step, save a checkpoint,
    exit 130, as bit-llama train does on Ctrl+C. A second signal ends the process at once. A signal the process was
    started ignoring (nohup, a background job of a non-interactive shell) stays ignored."""

    def __init__(self, rank):
        self._set, self._rank, self._previous = False, rank, {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) != signal.SIG_IGN:
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        if self._set:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        self._set = True
        _log(self._rank, "stopping after the current step (a checkpoint will be saved)...")

    def requested(self):
        return self._set

    def restore(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _generation_defaults(seed):
    """The `generation` object bit-llama train stores in config.json: the library's sampling defaults
    (bitttt_sampling_init) with the training seed, so the model's completions repeat through every door."""
    import ctypes
    import numpy
    from . import _native
    s = _native.Sampling()
    _native.call("bitttt_sampling_init", ctypes.byref(s))
    shortest = lambda x: float(repr(numpy.float32(x)))   # the float32 as .NET writes it: 0.8, not 0.800000011920929
    return {"max_tokens": s.max_tokens, "temperature": shortest(s.temperature), "top_k": s.top_k, "top_p": shortest(s.top_p),
            "repetition_penalty": shortest(s.repetition_penalty), "seed": seed}


def _finish(args, result, baselines, chat):
    from . import _trainer
    if result["step"] == result["start_step"]:
        _log(0, "nothing to train: the checkpoint is at step %d of %d (raise --steps to train further)" % (result["step"], args.steps))
    model = result["model"]
    model.config.extra["generation"] = _generation_defaults(args.seed)
    if chat is not None:
        model.config.extra["chat"] = chat   # the template the conversations were encoded with (docs/model.md §6.2)
    with open(os.path.join(args.output, "tokenizer.json"), encoding="utf-8") as f:
        tokenizer = f.read()
    model.save_directory(args.output, tokenizer)
    bitt = os.path.join(args.output, "model.bitt")
    model.save_bitt(bitt, tokenizer)
    out = os.path.abspath(args.output)
    print("step %d/%d  train loss %.4f" % (result["step"], args.steps, result["loss"]))
    examples = result["examples"]
    if examples is not None:
        text = "conversations: {:,} of {:,} trained on".format(examples["trained"], examples["examples"])
        if examples["cut"]:
            text += "; {:,} longer than --context-len + 1 = {} tokens were trained on their first {}".format(examples["cut"], args.context_len + 1, args.context_len + 1)
        if examples["examples"] > examples["trained"]:
            text += "; {:,} skipped (no assistant token within the first {})".format(examples["examples"] - examples["trained"], args.context_len + 1)
        print(text)
    if result["validation_loss"] is not None and baselines is not None:
        print(_trainer.verdict(result["validation_loss"], baselines))
    elif result["validation_loss"] is not None:
        print("validation loss %.4f nats%s%s" % (result["validation_loss"], "" if chat is None else " on the assistant replies",
                                                 "" if result["initial_validation_loss"] is None else " (before fine-tuning: %.4f)" % result["initial_validation_loss"]))
    print("metrics: %s" % os.path.join(out, "metrics.csv") + ("" if baselines is None else ", %s" % os.path.join(out, "baselines.json")))
    print("model: %s (config.json, tokenizer.json, model.safetensors) and %s" % (out, os.path.abspath(bitt)))
    if result["checkpoint"]:
        print("checkpoint: %s" % os.path.abspath(result["checkpoint"]))
    if not result["completed"]:
        print("stopped at step %d of %d; continue with the same arguments plus --resume" % (result["step"], args.steps))
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
