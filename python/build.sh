#!/usr/bin/env bash
# Publishes the engine (src/BitTtt.Native) with NativeAOT and writes the bitttt wheel to python/dist/.
#   bash python/build.sh            # this machine's platform
#   BITTTT_RID=linux-arm64 bash python/build.sh   # another runtime identifier NativeAOT can target from here
# Needs the .NET SDK and the platform's C toolchain (gcc/clang + linker); the ILCompiler package comes from NuGet.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"

if [ -z "${BITTTT_RID:-}" ]; then
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) BITTTT_RID=linux-x64 ;;
    Linux-aarch64) BITTTT_RID=linux-arm64 ;;
    Darwin-arm64) BITTTT_RID=osx-arm64 ;;
    Darwin-x86_64) BITTTT_RID=osx-x64 ;;
    MINGW*-x86_64|MSYS*-x86_64|CYGWIN*-x86_64) BITTTT_RID=win-x64 ;;
    *) echo "build.sh: unknown platform $(uname -s)-$(uname -m); set BITTTT_RID" >&2; exit 2 ;;
  esac
fi
case "$BITTTT_RID" in
  linux-x64) platform=linux_x86_64; lib=BitTtt.Native.so ;;
  linux-arm64) platform=linux_aarch64; lib=BitTtt.Native.so ;;
  osx-arm64) platform=macosx_11_0_arm64; lib=BitTtt.Native.dylib ;;
  osx-x64) platform=macosx_10_15_x86_64; lib=BitTtt.Native.dylib ;;
  win-x64) platform=win_amd64; lib=BitTtt.Native.dll ;;
  *) echo "build.sh: BITTTT_RID=$BITTTT_RID is not one this script knows (linux-x64, linux-arm64, osx-arm64, osx-x64, win-x64)" >&2; exit 2 ;;
esac
python="$(command -v python3 || command -v python)"

# The instruction set NativeAOT compiles for (BitTtt.Native.csproj: x86-64-v3 on x64); BITTTT_ISA=x86-64-v2 for pre-AVX2 CPUs.
isa="${BITTTT_ISA:-}"
case "$BITTTT_RID" in *-x64) isa="${isa:-x86-64-v3}" ;; esac
publish="$here/build/native/$BITTTT_RID"
start=$(date +%s)
dotnet publish "$root/src/BitTtt.Native/BitTtt.Native.csproj" -c Release -r "$BITTTT_RID" -o "$publish" --nologo \
  ${isa:+-p:IlcInstructionSet=$isa}
echo "build.sh: NativeAOT publish took $(( $(date +%s) - start )) s"

# The in-tree copy lets `PYTHONPATH=python python3 ...` use the package straight from a checkout.
case "$platform" in
  linux*) cp "$publish/$lib" "$here/bitttt/libbitttt.so" ;;
  macosx*) cp "$publish/$lib" "$here/bitttt/libbitttt.dylib" ;;
  win*) cp "$publish/$lib" "$here/bitttt/bitttt.dll" ;;
esac
# The package version is every NuGet package's (Directory.Build.props), read by make_wheel.py.
version="$("$python" "$here/make_wheel.py" --print-version)"
printf '"""Written by build.sh: what the library next to this file was compiled for, and the version."""\nRUNTIME_IDENTIFIER = "%s"\nINSTRUCTION_SET = "%s"\nVERSION = "%s"\n' \
  "$BITTTT_RID" "$isa" "$version" > "$here/bitttt/_build_info.py"
rm -f "$here"/dist/bitttt-*.whl
"$python" "$here/make_wheel.py" --lib "$publish/$lib" --platform "$platform" --out "$here/dist" \
  --header "$root/src/BitTtt.Native/include/bitttt.h"
