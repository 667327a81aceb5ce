"""Decode and prefill speed of the NativeAOT library from Python vs the same engine JIT-compiled in .NET
(`bit-llama bench`), on one random model, side by side in one run.

    python decode_vs_jit.py [--dim 256 --layers 8 --vocab-size 16384] [--bit-llama CMD]

The random model is the one `bit-llama bench` measures (the seed's shape by default), written by
`bench --save-model` (BitTtt.RandomModel) and then loaded here. .NET and Python are measured twice each,
alternately, and the best of each is compared. Prints tokens/s and ratios.
"""
import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time

import bitttt


def python_figures(model_dir, prompt_tokens, decode_tokens):
    with bitttt.Llama.load_auto(model_dir) as llama, llama.session() as s:
        rng = random.Random(7)
        prompt = [rng.randrange(llama.vocab_size) for _ in range(prompt_tokens)]
        for i in range(50):   # warm-up, as the .NET bench does for its JIT
            s.forward(i % llama.vocab_size)
        prefill = decode = float("inf")
        for _ in range(3):    # best of three: the machine is shared
            s.reset()
            start = time.perf_counter()
            logits = s.feed(prompt)
            prefill = min(prefill, time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(decode_tokens):
                logits = s.forward(max(range(len(logits)), key=logits.__getitem__))
            decode = min(decode, time.perf_counter() - start)
    return prompt_tokens / prefill, decode_tokens / decode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--vocab-size", type=int, default=16384)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=128)
    parser.add_argument("--bit-llama", default=None, help="the CLI command (default: the repository's Release build)")
    args = parser.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cli = shlex.split(args.bit_llama) if args.bit_llama else [os.path.join(repo, "src", "BitTtt.Cli", "bin", "Release", "net10.0", "bit-llama")]
    shape = ["--dim", str(args.dim), "--layers", str(args.layers), "--vocab-size", str(args.vocab_size)]
    figures = ["--no-torch", "--json", "--prompt-tokens", str(args.prompt_tokens), "--decode-tokens", str(args.decode_tokens)]

    def bench(*model_args):
        out = subprocess.run(cli + ["bench", *model_args, *figures], capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory() as work:
        model = os.path.join(work, "random")
        first = bench(*shape, "--save-model", model)   # writes the model it measures
        py_prefill, py_decode = python_figures(model, args.prompt_tokens, args.decode_tokens)
        second = bench(model)
        py_prefill2, py_decode2 = python_figures(model, args.prompt_tokens, args.decode_tokens)
    jit_prefill = max(r["prefill_tokens_per_s"]["managed"] for r in (first, second))
    jit_decode = max(r["decode_tokens_per_s"]["managed"] for r in (first, second))
    py_prefill, py_decode = max(py_prefill, py_prefill2), max(py_decode, py_decode2)
    print("model: random, dim %d, %d layers, vocab %d (%s)" % (args.dim, args.layers, args.vocab_size, sys.platform))
    print("                       prefill tok/s   decode tok/s")
    print("  .NET JIT (bench)     %13.1f   %12.1f" % (jit_prefill, jit_decode))
    print("  Python + NativeAOT   %13.1f   %12.1f" % (py_prefill, py_decode))
    print("  ratio AOT/JIT        %13.2f   %12.2f" % (py_prefill / jit_prefill, py_decode / jit_decode))


if __name__ == "__main__":
    main()
