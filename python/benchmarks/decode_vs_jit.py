"""Decode and prefill speed of the NativeAOT library from Python vs the same engine JIT-compiled in .NET
(`bit-llama bench MODEL --no-torch --json`), on one random model, side by side in one run.

    python decode_vs_jit.py TOKENIZER_JSON [--dim 256 --layers 8 --vocab-size 16384] [--bit-llama CMD]

The random model uses the seed's shape by default; TOKENIZER_JSON is any tokenizer.json (e.g. a tiny
trained model's; a model may have more rows than its tokenizer has tokens). Prints tokens/s and ratios.
"""
import argparse
import json
import os
import random
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from array import array

import bitttt


def expected(config):
    d, i, v, D = config["hidden_dim"] // 4, config["intermediate_dim"], config["vocab_size"], config["hidden_dim"]
    names = [("embed.weight", [v, D])]
    for n in range(config["num_layers"]):
        p = "layers.%d." % n
        names += [(p + "norm1.weight", [D]), (p + "ttt.down.weight", [d, D]), (p + "ttt.up.weight", [D, d]),
                  (p + "norm2.weight", [D]), (p + "mlp.gate_proj.weight", [i, D]), (p + "mlp.up_proj.weight", [i, D]),
                  (p + "mlp.down_proj.weight", [D, i])]
    return names + [("norm_f.weight", [D]), ("lm_head.weight", [v, D])]


def write_random_safetensors(path, config, seed=42):
    rng = random.Random(seed)
    header, blobs, offset = {}, [], 0
    for name, shape in expected(config):
        count = 1
        for s in shape:
            count *= s
        values = array("f", [1.0] * count) if len(shape) == 1 else array("f", [rng.uniform(-0.1, 0.1) for _ in range(count)])
        data = values.tobytes()
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for b in blobs:
            f.write(b)


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
    parser.add_argument("tokenizer")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--vocab-size", type=int, default=16384)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--decode-tokens", type=int, default=128)
    parser.add_argument("--bit-llama", default=None, help="the CLI command (default: the repository's Release build)")
    args = parser.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cli = shlex.split(args.bit_llama) if args.bit_llama else [os.path.join(repo, "src", "BitTtt.Cli", "bin", "Release", "net10.0", "bit-llama")]
    config = {"vocab_size": args.vocab_size, "hidden_dim": args.dim, "num_layers": args.layers, "inner_lr": 0.1,
              "intermediate_dim": 4 * args.dim, "ttt_chunk": 16}
    with tempfile.TemporaryDirectory() as model:
        with open(os.path.join(model, "config.json"), "w") as f:
            json.dump(config, f)
        shutil.copy(args.tokenizer, os.path.join(model, "tokenizer.json"))
        write_random_safetensors(os.path.join(model, "model.safetensors"), config)
        py_prefill, py_decode = python_figures(model, args.prompt_tokens, args.decode_tokens)
        out = subprocess.run(cli + ["bench", model, "--no-torch", "--json", "--prompt-tokens", str(args.prompt_tokens),
                                    "--decode-tokens", str(args.decode_tokens)], capture_output=True, text=True, check=True).stdout
        jit = json.loads(out.strip().splitlines()[-1])
        py_prefill2, py_decode2 = python_figures(model, args.prompt_tokens, args.decode_tokens)   # again after, to bracket load changes
    jit_prefill, jit_decode = jit["prefill_tokens_per_s"]["managed"], jit["decode_tokens_per_s"]["managed"]
    py_prefill, py_decode = max(py_prefill, py_prefill2), max(py_decode, py_decode2)
    print("model: random, dim %d, %d layers, vocab %d (%s)" % (args.dim, args.layers, args.vocab_size, sys.platform))
    print("                       prefill tok/s   decode tok/s")
    print("  .NET JIT (bench)     %13.1f   %12.1f" % (jit_prefill, jit_decode))
    print("  Python + NativeAOT   %13.1f   %12.1f" % (py_prefill, py_decode))
    print("  ratio AOT/JIT        %13.2f   %12.2f" % (py_prefill / jit_prefill, py_decode / jit_decode))


if __name__ == "__main__":
    main()
