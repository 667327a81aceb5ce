#!/usr/bin/env bash
# CI stage: runs every sample on its tiny setting and counts each one as a check.
#
#   .ci/samples.sh RESULTS_FILE
#
# Appends "passed <sample>" or "failed <sample>: <reason>" to RESULTS_FILE, one line per sample, prints the
# end of a failing sample's output, and exits non-zero if any failed. The samples:
#   - samples/notebooks/0N-*.cs, .NET 10 file-based apps, run in order with one shared output folder
#     (01 trains the model that 02, 04 and 05 read), then 04 once more alone in an empty folder, so the
#     "train a tiny model when it is missing" path runs too;
#   - samples/QuickStart with --tiny.
# Everything runs in Release, so after the solution's `dotnet test -c Release` the libraries are built already.
set -uo pipefail
cd "$(dirname "$0")/.."
results="${1:?usage: .ci/samples.sh RESULTS_FILE}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage_start=$(date +%s)
any_failed=0

# run_sample NAME COMMAND...: one check; a sample gets 10 minutes at most (a hung sample is a failure, not a hung CI).
run_sample() {
  local name=$1; shift
  local log="$work/$(tr -c 'A-Za-z0-9.-' '_' <<<"$name").log" start=$(date +%s) rc=0
  timeout 600 "$@" >"$log" 2>&1 || rc=$?
  local took=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then
    echo "passed $name" >>"$results"
    echo ".ci/samples.sh: passed $name (${took} s)"
  else
    local reason
    # The exception or compiler error if there is one, else the last line the sample printed.
    reason=$(grep -m1 -E 'Unhandled exception|error [A-Z]+[0-9]+|^[^ ]*: error' "$log")
    [ -n "$reason" ] || reason=$(grep -v '^[[:space:]]*$' "$log" | tail -1)
    reason=$(tr -d '\r' <<<"$reason" | sed 's/^[[:space:]]*//' | cut -c1-200)
    [ $rc -eq 124 ] && reason="timed out after 600 s"
    echo "failed $name: exit code $rc: $reason" >>"$results"
    echo ".ci/samples.sh: FAILED $name (exit code $rc, ${took} s); the end of its output:" >&2
    tail -n 25 "$log" | sed 's/^/    /' >&2
    any_failed=1
  fi
}

shared="$work/notebooks"
for sample in samples/notebooks/0*.cs; do
  run_sample "$sample" dotnet run -c Release "$sample" -- --tiny --output "$shared"
done
run_sample "samples/notebooks/04-evaluation.cs (alone)" \
  dotnet run -c Release samples/notebooks/04-evaluation.cs -- --tiny --output "$work/alone"

# The QuickStart was built by the solution build; build it here only when that has not happened.
quickstart_build=()
[ -f samples/QuickStart/bin/Release/net10.0/QuickStart.dll ] && quickstart_build=(--no-build)
run_sample "samples/QuickStart --tiny" \
  dotnet run --project samples/QuickStart -c Release "${quickstart_build[@]}" -- --tiny \
    --output "$work/quickstart/moby.bitt" --run-dir "$work/quickstart/run"

echo ".ci/samples.sh: $(grep -c '^passed ' "$results") passed, $(grep -c '^failed ' "$results") failed in $(( $(date +%s) - stage_start )) s"
exit $any_failed
