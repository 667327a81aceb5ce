#!/usr/bin/env bash
# CI stage (called by .ci/run): pack every packable project into a temporary local feed, check every package
# against NuGet.org's 250 MB limit, then install bit-llama from that feed as a user would
# (`dotnet tool install BitTtt.Cli`, which picks this machine's RID package) and run --version, a tiny train
# and generate with it. docs/packaging.md describes the packages.
#
# Usage: .ci/pack.sh RESULTS_FILE
#   Appends one line per check to RESULTS_FILE: "passed <name>" or "failed <name>: <reason>", prints a clear
#   line for each failure and exits non-zero if any check failed.
#   PACKAGE_LIMIT_MB (default 250) lowers the limit, e.g. to see the over-limit failure.
set -uo pipefail
cd "$(dirname "$0")/.."
results="${1:?usage: .ci/pack.sh RESULTS_FILE}"
limit_mb="${PACKAGE_LIMIT_MB:-250}"
limit_bytes=$((limit_mb * 1000 * 1000))   # NuGet.org counts MB of 10^6 bytes; the stricter reading of "250 MB"
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props | head -1)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
feed="$work/feed"; mkdir -p "$feed"
any_failed=0
start=$(date +%s)

pass() { echo "passed $1" >> "$results"; }
fail() { echo "failed $1: $2" >> "$results"; echo ".ci/pack.sh: FAILED $1: $2" >&2; any_failed=1; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }

# 1. Pack. Warnings are errors in this repository, but a warning line from NuGet itself is reported too.
if dotnet pack BitTtt.MLNet.sln -c Release -o "$feed" > "$work/pack.log" 2>&1; then
  warnings=$(grep -c ': warning ' "$work/pack.log")
  if [ "$warnings" -eq 0 ]; then pass "dotnet-pack"; else fail "dotnet-pack" "$warnings warning(s): $(grep -m1 ': warning ' "$work/pack.log")"; fi
else
  tail -30 "$work/pack.log" >&2
  fail "dotnet-pack" "dotnet pack BitTtt.MLNet.sln exited non-zero: $(grep -m1 ': error ' "$work/pack.log")"
fi
echo ".ci/pack.sh: packed in $(( $(date +%s) - start )) s"

# 2. Every package: under the size limit, of this version, with a readme (symbol packages: size only).
shopt -s nullglob
packages=("$feed"/*.nupkg "$feed"/*.snupkg)
[ ${#packages[@]} -gt 0 ] || fail "packages" "dotnet pack wrote no package to the feed"
for f in "${packages[@]}"; do
  name=$(basename "$f"); size=$(stat -c %s "$f")
  echo ".ci/pack.sh: $name $(mb "$size")"
  if [ "$size" -le "$limit_bytes" ]; then pass "size:$name"
  else fail "size:$name" "$(mb "$size") is over the ${limit_mb} MB package limit"; fi
  case "$name" in
    *.snupkg) ;;
    *".$version.nupkg")
      if python3 -c 'import sys, zipfile; sys.exit("README.md" not in zipfile.ZipFile(sys.argv[1]).namelist())' "$f"; then pass "readme:$name"; else fail "readme:$name" "the package has no README.md"; fi ;;
    *) fail "version:$name" "expected version $version (Directory.Build.props)" ;;
  esac
done
for id in BitTtt.Cli BitTtt.Cli.linux-x64 BitTtt.Cli.win-x64 BitTtt.Cli.osx-arm64; do
  [ -f "$feed/$id.$version.nupkg" ] || fail "exists:$id" "$id.$version.nupkg was not packed"
done

# 3. Install the tool from the feed alone (its own nuget.config, its own package cache, so neither
#    NuGet.org nor an older cached 0.2.0 can stand in for what was just packed), as a user would.
tool="$work/tool"
cat > "$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration><packageSources><clear /><add key="local" value="$feed" /></packageSources></configuration>
XML
t=$(date +%s)
if NUGET_PACKAGES="$work/nuget-cache" dotnet tool install --tool-path "$tool" --configfile "$work/nuget.config" \
     BitTtt.Cli --version "$version" > "$work/install.log" 2>&1; then
  pass "install:BitTtt.Cli"
else
  cat "$work/install.log" >&2
  fail "install:BitTtt.Cli" "dotnet tool install from the local feed failed: $(tail -1 "$work/install.log")"
fi
echo ".ci/pack.sh: installed in $(( $(date +%s) - t )) s"
bitllama="$tool/bit-llama"

if [ -x "$bitllama" ]; then
  # 4. --version prints the version of Directory.Build.props (SourceLink may append +commit).
  printed=$("$bitllama" --version 2>&1)
  case "$printed" in
    "$version"|"$version+"*) pass "bit-llama:--version" ;;
    *) fail "bit-llama:--version" "printed '$printed', expected $version" ;;
  esac

  # The installed LibTorchSharp must load on Debian 12 whatever machine packed it (docs/packaging.md).
  shim=$(find "$tool/.store" -name libLibTorchSharp.so | head -1)
  if [ -n "$shim" ] && command -v readelf > /dev/null; then
    if readelf -V "$shim" | grep -q 'Name: GLIBCXX_3.4.32'; then
      fail "bit-llama:libLibTorchSharp" "the packaged libLibTorchSharp.so still requires GLIBCXX_3.4.32 (Debian 12 lacks it)"
    else pass "bit-llama:libLibTorchSharp"; fi
  fi

  # 5. A tiny train and generate with the installed tool, in a scratch directory.
  run="$work/run"; mkdir -p "$run"
  words=(the whale ship sea captain white call me ishmael boat harpoon deck wind night)
  for i in $(seq 1 300); do
    line=""; for j in 1 2 3 4 5 6 7 8 9 10; do line+="${words[$(( (i * 7 + j * 13 + i * j) % ${#words[@]} ))]} "; done
    echo "${line% }."
  done > "$run/data.txt"
  t=$(date +%s)
  if (cd "$run" && "$bitllama" train --data data.txt --vocab-size 300 --dim 16 --layers 1 --context-len 16 \
        --batch-size 4 --steps 6 --warmup-steps 2 --eval-interval 0 --threads 1 --output model) > "$work/train.log" 2>&1 \
     && [ -s "$run/model/model.bitt" ]; then
    pass "bit-llama:train"
  else
    tail -20 "$work/train.log" >&2
    fail "bit-llama:train" "tiny train from the installed tool failed: $(tail -1 "$work/train.log")"
  fi
  echo ".ci/pack.sh: tiny train took $(( $(date +%s) - t )) s"
  if [ -s "$run/model/model.bitt" ]; then
    if out=$("$bitllama" generate "$run/model/model.bitt" --prompt "the whale" --max-tokens 8 --seed 1 2>&1); then
      echo ".ci/pack.sh: generated: $out"
      pass "bit-llama:generate"
    else
      fail "bit-llama:generate" "generate from the installed tool failed: ${out:-no output}"
    fi
  else
    fail "bit-llama:generate" "no model to generate from (train failed)"
  fi
else
  fail "bit-llama:run" "the installed tool has no bit-llama executable at $bitllama"
fi

echo ".ci/pack.sh: packaging stage took $(( $(date +%s) - start )) s: $(grep -c '^passed ' "$results") passed, $(grep -c '^failed ' "$results") failed"
exit $any_failed
