#!/usr/bin/env bash
# Training throughput of the PyTorch twin (python3 -m bitttt.train) beside the TorchSharp trainer (bit-llama train),
# and of 1 vs 2 twin processes (DDP over gloo on 127.0.0.1), measured one after the other in one run on the same
# corpus, shape and global batch. Prints tokens/s (metrics.csv's tokens_per_s at the step before the last, so the
# final validation is not counted) and each figure's ratio to TorchSharp on one thread.
#
#   bash benchmarks/TwinThroughput/run.sh                    # default shape (256 x 8, context 128, batch 16), delta
#   TTT=reconstruct STEPS=20 DIM=64 LAYERS=2 bash benchmarks/TwinThroughput/run.sh
#   OPENBLAS_DIR=/usr/lib/x86_64-linux-gnu/openblas-pthread bash benchmarks/TwinThroughput/run.sh
#
# Debian's python3-torch does its matmuls through libblas.so.3, which is the reference BLAS unless an optimized one
# is installed (libopenblas0-pthread switches the alternative). With OPENBLAS_DIR set, the twin rows are measured
# again with that directory first on LD_LIBRARY_PATH, without changing the system's alternative.
#
# Needs: a Release build of the CLI (dotnet build src/BitTtt.Cli -c Release), the bitttt wheel installed for Debian's
# python3 with python3-torch (PYTHON=path/to/venv/bin/python; see python/tests_twin), a free loopback port.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-python3}"
cli="${BIT_LLAMA:-$root/src/BitTtt.Cli/bin/Release/net10.0/bit-llama}"
steps="${STEPS:-12}" dim="${DIM:-256}" layers="${LAYERS:-8}" ttt="${TTT:-delta}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
head -c 1000000 "$root/data/moby-dick.txt" > "$work/corpus.txt"
flags=(--data "$work/corpus.txt" --dim "$dim" --layers "$layers" --context-len 128 --batch-size 16 --warmup-steps 2 --eval-interval 0 --eval-batches 1 --save-interval 100000 --ttt-type "$ttt")

rate() { awk -F, -v s=$((steps - 1)) '$1 == s { print $5 }' "$1/metrics.csv"; }
# The tokenizer and token files once, so every run trains on the same ids and none times the tokenizer.
"$cli" train "${flags[@]}" --vocab-size 4096 --steps 1 --threads 1 --output "$work/prep" >/dev/null 2>&1
flags+=(--steps "$steps" --tokenizer "$work/prep/tokenizer.json")
prepared() { mkdir -p "$1"; cp "$work/prep/tokenizer.json" "$work/prep/tokens.bin" "$work/prep/val.bin" "$1/"; }

run_dotnet() {   # threads
  prepared "$work/dotnet$1"
  "$cli" train "${flags[@]}" --threads "$1" --output "$work/dotnet$1" >/dev/null 2>&1
  rate "$work/dotnet$1"
}
run_twin() {   # processes threads
  local out="$work/twin$1x$2" port=$((29600 + RANDOM % 300)) pids=()
  prepared "$out"
  for ((r = 0; r < $1; r++)); do
    if [ "$1" -gt 1 ]; then
      MASTER_ADDR=127.0.0.1 MASTER_PORT=$port RANK=$r LOCAL_RANK=$r WORLD_SIZE=$1 OMP_NUM_THREADS=$2 \
        "$python" -m bitttt.train "${flags[@]}" --threads "$2" --output "$out" >/dev/null 2>&1 &
    else
      "$python" -m bitttt.train "${flags[@]}" --threads "$2" --output "$out" >/dev/null 2>&1 &
    fi
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  rate "$out"
}

echo "shape ${dim}x${layers} $ttt, context 128, global batch 16, $steps steps; load average $(cut -d' ' -f1-3 /proc/loadavg)"
base=$(run_dotnet 1)
printf '%-60s %10s %8s\n' "trainer" "tokens/s" "ratio"
printf '%-60s %10.0f %8.2f\n' "TorchSharp (bit-llama train), 1 thread" "$base" 1
for t in 2; do v=$(run_dotnet $t); printf '%-60s %10.0f %8.2f\n' "TorchSharp (bit-llama train), $t threads" "$v" "$(echo "$v / $base" | bc -l)"; done
twin_rows() {   # label
  v=$(run_twin 1 1); printf '%-60s %10.0f %8.2f\n' "PyTorch twin$1, 1 process x 1 thread" "$v" "$(echo "$v / $base" | bc -l)"
  v=$(run_twin 1 2); printf '%-60s %10.0f %8.2f\n' "PyTorch twin$1, 1 process x 2 threads" "$v" "$(echo "$v / $base" | bc -l)"
  v=$(run_twin 2 1); printf '%-60s %10.0f %8.2f\n' "PyTorch twin$1, 2 processes x 1 thread (DDP, gloo)" "$v" "$(echo "$v / $base" | bc -l)"
}
twin_rows ""
if [ -n "${OPENBLAS_DIR:-}" ]; then
  export LD_LIBRARY_PATH="$OPENBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  twin_rows " (OpenBLAS)"
fi
