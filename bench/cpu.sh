#!/usr/bin/env bash
# Prints the CPU the benchmarks run on, as their tables name it: its model name,
# CPU family and model, and cores. The name alone ("AMD EPYC") does not tell one
# generation from the next, and the machine behind this project changes between
# runs: an AVX-512 FMA peak of 117 GFLOP/s a core on one (family 25, model 17),
# 222 on another.
set -euo pipefail
field() { grep -m1 "^$1[[:space:]]*:" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'; }
echo "$(field 'model name') (CPU family $(field 'cpu family'), model $(field model)), $(nproc) cores"
