"""Streams a completion from a .bitt file or model directory.

    python generate.py MODEL PROMPT [MAX_TOKENS]
"""
import sys

import bitttt

path = sys.argv[1] if len(sys.argv) > 1 else "runs/tiny/model.bitt"
prompt = sys.argv[2] if len(sys.argv) > 2 else "Call me"
max_tokens = int(sys.argv[3]) if len(sys.argv) > 3 else 60

with bitttt.Llama.load_auto(path) as llama:
    print(prompt, end="", flush=True)
    llama.stream_completion(prompt, max_tokens, 0.8, lambda piece: print(piece, end="", flush=True))
    print()
    # A separate session with its own TTT memory: learn a text, save the memory, continue later.
    with llama.session() as session:
        session.learn("Ishmael signed on to the Pequod.")
        print(session.complete(" The Pequod", max_tokens=20, temperature=0, stop=["\n"]))
