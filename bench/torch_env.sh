#!/bin/sh
# torch_env.sh -- run a command in the PyTorch benchmarking environment of
# ../shared/BENCHMARKING.md, or check that environment.
#
#   bench/torch_env.sh [--threads N] CMD ARGS...   run CMD with the settings below
#   bench/torch_env.sh [--threads N] check         time F.linear(1024x429, 400x429)
#
# Settings, for this process tree only (the system default is not changed):
#   LD_LIBRARY_PATH  <multiarch>/openblas-openmp first, so Debian's torch (which
#                    links libblas.so.3) gets OpenBLAS (OpenMP build), not the
#                    reference BLAS (~2.5 GFLOP/s instead of ~100 per thread);
#   LD_PRELOAD       libtcmalloc_minimal.so.4 (glibc malloc faults large blocks
#                    back in on every batch on these VMs);
#   OPENBLAS_CORETYPE  only when OpenBLAS's own pick of a core lacks vector
#                    units this CPU has, from /proc/cpuinfo: SkylakeX or
#                    Cooperlake (AVX-512), or Haswell (AVX2). OpenBLAS 0.3.21
#                    takes the Xeon family 6 model 207 for "Prescott" (SSE3:
#                    ~33 GFLOP/s instead of ~150). An OPENBLAS_CORETYPE
#                    inherited from the environment is ignored: some of these
#                    machines set Haswell machine-wide, which on the AMD EPYC
#                    with AVX-512 (detected as Cooperlake) halves torch's GEMM,
#                    131 instead of 255 GFLOP/s. To force a core for the
#                    benchmark, set BENCH_OPENBLAS_CORETYPE.
#   OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, DMC_TORCH_THREADS = N (default 1);
#                    the peers also call torch.set_num_threads(--threads).
#   PYTHON           /usr/bin/python3 (Debian's, which has python3-torch).
# Needs: python3-torch libopenblas0-openmp libtcmalloc-minimal4 (Debian).
set -eu

threads=1
if [ "${1:-}" = "--threads" ]; then
  threads=$2
  shift 2
fi

arch=$( (dpkg-architecture -qDEB_HOST_MULTIARCH || gcc -print-multiarch) 2>/dev/null || true)
[ -n "$arch" ] || arch=x86_64-linux-gnu
libdir=/usr/lib/$arch
blas=$libdir/openblas-openmp
tcm=$libdir/libtcmalloc_minimal.so.4

[ -e "$blas/libblas.so.3" ] || { echo "torch_env.sh: $blas/libblas.so.3 missing (apt-get install libopenblas0-openmp)" >&2; exit 1; }
[ -e "$tcm" ] || { echo "torch_env.sh: $tcm missing (apt-get install libtcmalloc-minimal4)" >&2; exit 1; }

export LD_LIBRARY_PATH="$blas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_PRELOAD="$tcm${LD_PRELOAD:+ $LD_PRELOAD}"
unset OPENBLAS_CORETYPE
if [ -n "${BENCH_OPENBLAS_CORETYPE:-}" ]; then
  export OPENBLAS_CORETYPE="$BENCH_OPENBLAS_CORETYPE"
else
  core=$(OPENBLAS_VERBOSE=2 /usr/bin/python3 -c "import ctypes; ctypes.CDLL('$blas/libopenblas.so.0')" 2>&1 |
         sed -n 's/^Core: //p')
  flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
  case "$core" in
    SkylakeX|Cooperlake|SapphireRapids) ;;          # AVX-512 kernels already
    *) case "$flags" in
         *avx512_bf16*) export OPENBLAS_CORETYPE=Cooperlake ;;
         *avx512f*) export OPENBLAS_CORETYPE=SkylakeX ;;
         *avx2*) case "$core" in
                   Haswell|Zen) ;;
                   *) export OPENBLAS_CORETYPE=Haswell ;;
                 esac ;;
       esac ;;
  esac
fi
export OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" DMC_TORCH_THREADS="$threads"
export PYTHON=/usr/bin/python3

if [ "${1:-}" != "check" ]; then
  [ $# -gt 0 ] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
  exec "$@"
fi

exec "$PYTHON" - "$threads" <<'EOF'
import os, sys, time
import torch
import torch.nn.functional as F

threads = int(sys.argv[1])
blas = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l and ".so" in l})
tcm = any("tcmalloc" in l for l in open("/proc/self/maps"))
print(f"torch {torch.__version__}; BLAS loaded: {', '.join(blas) or 'none'}; tcmalloc: {'yes' if tcm else 'NO'}")
print(f"LD_LIBRARY_PATH={os.environ.get('LD_LIBRARY_PATH')}")
print(f"LD_PRELOAD={os.environ.get('LD_PRELOAD')}  OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
      f"  OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(detected)')}")

x, w = torch.randn(1024, 429), torch.randn(400, 429)
flop = 2 * 1024 * 429 * 400
bad = False
for t in sorted({1, threads}):
    torch.set_num_threads(t)
    for _ in range(5):
        F.linear(x, w)
    best = float("inf")
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(10):
            F.linear(x, w)
        best = min(best, (time.perf_counter() - t0) / 10)
    gf = flop / best / 1e9
    print(f"F.linear 1024x429 @ 429x400, {t} thread(s): {gf:.1f} GFLOP/s ({best * 1e3:.3f} ms)")
    if gf < 50 * t:
        bad = True
        print(f"WARNING: far below ~{100 * t} GFLOP/s: the peer is misconfigured, ratios would be inflated")
sys.exit(1 if bad else 0)
EOF
