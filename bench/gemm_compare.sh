#!/usr/bin/env bash
# lora4j's GEMM against numpy + OpenBLAS on the same machine, interleaved A B A B so that drift (turbo, other
# load) hits both sides alike; prints a table of the best GFLOP/s of each side per layout and shape.
#
#   bench/gemm_compare.sh                                   # default shapes, layouts nt,nn,tn, 2 rounds
#   bench/gemm_compare.sh --shapes 1024x576x576 --layouts nt --rounds 3 --seconds 2
#
# Options (or the environment variable after each):
#   --shapes   MxNxK list (GEMM_SHAPES); default: M=1024 tokens with the (N,K) of SmolLM2-135M and MiniLM-L6
#   --layouts  nt,nn,tn subset (GEMM_LAYOUTS)
#   --rounds   rounds of A B (GEMM_ROUNDS, default 2)
#   --seconds  minimum timed seconds per case, both sides (GEMM_SECONDS, default 1.0)
#   --threads  OpenBLAS threads (GEMM_THREADS, default: all cores, as lora4j uses)
#   --out      directory for the raw JSON lines (GEMM_OUT, default: a new temporary directory)
# Needs /usr/bin/python3 with numpy on OpenBLAS; installs python3-numpy and libopenblas0-pthread with apt-get
# when they are missing.
set -euo pipefail

DEFAULT_SHAPES=1024x576x576,1024x192x576,1024x1536x576,1024x576x1536,1024x384x384,1024x1536x384,1024x384x1536,1024x49152x576
shapes=${GEMM_SHAPES:-$DEFAULT_SHAPES}
layouts=${GEMM_LAYOUTS:-nt,nn,tn}
rounds=${GEMM_ROUNDS:-2}
seconds=${GEMM_SECONDS:-1.0}
threads=${GEMM_THREADS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)}
out=${GEMM_OUT:-}

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --shapes) shapes=$2; shift 2 ;;
    --layouts) layouts=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gemm_compare: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# --- numpy on OpenBLAS, from Debian -----------------------------------------------------------------------------
. "$ROOT/bench/debian_python.sh"
ensure_debian_python gemm_compare 'import numpy' python3-numpy

# --- run, A B A B ---------------------------------------------------------------------------------------------
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/gemm_compare.XXXXXX")
mkdir -p "$out"
echo "gemm_compare: $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') cores," \
     "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'); raw results in $out" >&2

failed=0
for ((r = 1; r <= rounds; r++)); do
  echo "== round $r/$rounds: lora4j" >&2
  if ! ./lora4j bench gemm --shapes "$shapes" --layouts "$layouts" --seconds "$seconds" \
       | tee "$out/lora4j.$r.jsonl"; then
    echo "gemm_compare: ./lora4j bench gemm failed in round $r" >&2
    failed=1
  fi
  echo "== round $r/$rounds: openblas ($threads threads)" >&2
  if ! "$PY" bench/openblas_gemm.py --shapes "$shapes" --layouts "$layouts" --seconds "$seconds" \
       --threads "$threads" | tee "$out/openblas.$r.jsonl"; then
    echo "gemm_compare: bench/openblas_gemm.py failed in round $r" >&2
    failed=1
  fi
done

# --- table: best of the rounds per side -------------------------------------------------------------------------
"$PY" - "$out" "$shapes" "$layouts" <<'EOF'
import glob, json, math, os, sys

out, shapes, layouts = sys.argv[1], sys.argv[2], sys.argv[3]
best = {}
for path in sorted(glob.glob(os.path.join(out, "*.jsonl"))):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
                key = (rec["impl"], rec["layout"], int(rec["m"]), int(rec["n"]), int(rec["k"]))
                g = float(rec["gflops"])
            except (ValueError, KeyError, TypeError):
                continue
            best[key] = max(best.get(key, 0.0), g)

order = [tuple(int(x) for x in s.lower().split("x")) for s in shapes.split(",") if s.strip()]
lays = [x.strip() for x in layouts.split(",") if x.strip()]
fmt = "{:<6} {:<16} {:>14} {:>16} {:>8}"
print()
print(fmt.format("layout", "MxNxK", "lora4j GFLOP/s", "OpenBLAS GFLOP/s", "ratio"))
ratios = {}
for lay in lays:
    for (m, n, k) in order:
        j = best.get(("lora4j", lay, m, n, k))
        o = best.get(("openblas", lay, m, n, k))
        ratio = j / o if j and o else None
        if ratio:
            ratios.setdefault(lay, []).append(ratio)
        print(fmt.format(lay, f"{m}x{n}x{k}", f"{j:.1f}" if j else "-", f"{o:.1f}" if o else "-",
                         f"{ratio:.2f}" if ratio else "-"))
geo = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs))
for lay, xs in ratios.items():
    print(f"geometric mean ratio {lay}: {geo(xs):.2f}")
allr = [x for xs in ratios.values() for x in xs]
if allr:
    print(f"geometric mean ratio, all: {geo(allr):.2f}   (ratio = lora4j / OpenBLAS, best of rounds each)")
EOF
exit "$failed"
