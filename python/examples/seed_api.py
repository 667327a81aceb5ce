"""The seed's Python API on a model written by the .NET trainer.

    python seed_api.py MODEL_DIR        # a directory from `bit-llama train` (config.json + model.safetensors)
"""
import sys

import cortex_rust

model_dir = sys.argv[1] if len(sys.argv) > 1 else "runs/tiny"
config = cortex_rust.BitLlamaConfig.from_json_file(model_dir + "/config.json")
# or by hand, as in the seed: cortex_rust.BitLlamaConfig(16384, 256, 8, 0.1)
model = cortex_rust.BitLlama(config, model_dir + "/model.safetensors", device="cpu")
logits = model.forward(token_id=42)                       # one token in, the next-token logits out
best = max(range(len(logits)), key=logits.__getitem__)
print("vocab %d, next token after 42: %d (logit %.4f)" % (len(logits), best, logits[best]))
