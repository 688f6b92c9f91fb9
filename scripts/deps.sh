#!/usr/bin/env bash
# Installs the Debian packages dmc needs, only those that are missing.
# Build: gcc/clang, make, flex, bison, LLVM (llvm-dev); tests: CUnit, valgrind,
# graphviz (drawing checks); runtime: xxhash, zlib, jansson. With --bench, the
# PyTorch side of the benchmarks too.
set -euo pipefail
pkgs=(build-essential clang flex bison llvm-dev libcunit1-dev libxxhash-dev zlib1g-dev libjansson-dev valgrind graphviz
      libclang-rt-14-dev)   # libFuzzer and the sanitizers' runtimes (make fuzz-smoke, tests/san.sh)
# --bench: also the PyTorch peers and what makes PyTorch fair (../shared/BENCHMARKING.md)
if [ "${1:-}" = --bench ]; then pkgs+=(python3-torch python3-numpy python3-xxhash libopenblas0-openmp libtcmalloc-minimal4); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "deps.sh: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
