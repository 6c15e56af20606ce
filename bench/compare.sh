#!/usr/bin/env bash
# LoRA training throughput: lora4j against the PyTorch reference (../shared/bench/bench_torch_lora.py) on the
# same random-weight model shapes, run alternately A B A B in one go so that drift (other load, turbo) hits both
# sides alike; then the OpenBLAS sgemm ceiling measured in the same run (bench/gemm_compare.sh) so that each
# side's training FLOP rate can be read as a fraction of what this machine's best GEMM does.
#
#   bench/compare.sh                              # both shapes, 2 rounds, then the GEMM ceiling
#   bench/compare.sh --shapes minilm-l6 --rounds 3 --no-gemm
#
# Options (or the environment variable after each):
#   --shapes   smollm2-135m,minilm-l6 subset (COMPARE_SHAPES)
#   --rounds   rounds of A B per shape, at least 2 (COMPARE_ROUNDS, default 2)
#   --threads  threads for PyTorch (COMPARE_THREADS, default: all cores, as lora4j uses)
#   --reference  directory holding bench_torch_lora.py (COMPARE_REFERENCE, default ../shared/bench beside the repo)
#   --no-gemm  skip the OpenBLAS ceiling (COMPARE_GEMM=0)
#   --checkpoint  also run lora4j with --grad-checkpoint each round, as a third side "lora4j-ckpt"
#              (COMPARE_CHECKPOINT=1): memory saved and time lost by gradient checkpointing, in the same run
#   --out      directory for raw JSON lines and logs (COMPARE_OUT, default: a new temporary directory)
# Steps per run: smollm2-135m 5, minilm-l6 6 (both sides; the first step is cold and not counted).
# Batch x seq: smollm2-135m 4 x 256, minilm-l6 16 x 128 (the reference's README).
#
# Each line of the table is one side's median over its rounds: tokens/s, median step seconds, peak RSS (MB) and
# the achieved GFLOP/s, which is lora4j's FLOP count of one step (see dev.lora4j.bench.FlopCount: forward and
# backward GEMM work, frozen weights without weight gradients) divided by that side's step time; "% ceiling" is
# that over the best OpenBLAS sgemm GFLOP/s on the models' layer shapes in this run. The ratio lines are
# lora4j / PyTorch for tokens/s (higher is better) and for peak RSS (lower is better). The 1-minute load average
# before each run is printed with it: on a busy machine absolute numbers fall, and only ratios mean much.
#
# Needs /usr/bin/python3 with Debian's python3-torch on OpenBLAS; installs python3-torch, python3-numpy and
# libopenblas0-pthread with apt-get when missing (without OpenBLAS torch falls back to a reference BLAS, ~30x slower).
set -euo pipefail

shapes=${COMPARE_SHAPES:-smollm2-135m,minilm-l6}
rounds=${COMPARE_ROUNDS:-2}
threads=${COMPARE_THREADS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)}
gemm=${COMPARE_GEMM:-1}
checkpoint=${COMPARE_CHECKPOINT:-0}
out=${COMPARE_OUT:-}
ROOT=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
reference=${COMPARE_REFERENCE:-$ROOT/../shared/bench}

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --shapes) shapes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --reference) reference=$2; shift 2 ;;
    --no-gemm) gemm=0; shift ;;
    --checkpoint) checkpoint=1; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ "$rounds" -ge 2 ] 2>/dev/null || { echo "compare: --rounds must be a number >= 2, got '$rounds'" >&2; exit 2; }
[ -f "$reference/bench_torch_lora.py" ] || { echo "compare: no bench_torch_lora.py in $reference (pass --reference DIR)" >&2; exit 2; }
cd "$ROOT"
# --- PyTorch on OpenBLAS, from Debian ---------------------------------------------------------------------------
. "$ROOT/bench/debian_python.sh"
ensure_debian_python compare 'import torch, numpy' python3-torch python3-numpy

[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/lora4j_compare.XXXXXX")
mkdir -p "$out"
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '? ? ?'; }
echo "compare: $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') cores," \
     "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)," \
     "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC'); raw results in $out" >&2

# Builds the jar once up front so that the first timed run does not include a Maven build.
./lora4j --help >/dev/null

failed=0
# Runs one side, appending its JSON line (with the load average before the run added) to $out/<impl>.<shape>.jsonl.
run_side() {
  local impl=$1 shape=$2 r=$3 steps batch seq before line
  case $shape in
    smollm2-135m) steps=5; batch=4; seq=256 ;;
    minilm-l6) steps=6; batch=16; seq=128 ;;
    *) echo "compare: unknown shape '$shape' (smollm2-135m, minilm-l6)" >&2; exit 2 ;;
  esac
  before=$(load)
  echo "== $shape round $r/$rounds: $impl (load $before)" >&2
  if [ "$impl" = lora4j ]; then
    line=$(./lora4j bench train --shape "$shape" --steps "$steps" --batch "$batch" --seq "$seq" 2>>"$out/lora4j.log" | tail -n 1) || line=
  elif [ "$impl" = lora4j-ckpt ]; then
    line=$(./lora4j bench train --shape "$shape" --steps "$steps" --batch "$batch" --seq "$seq" --grad-checkpoint \
           2>>"$out/lora4j.log" | tail -n 1) || line=
  else
    line=$("$PY" "$reference/bench_torch_lora.py" --shape "$shape" --batch "$batch" --seq "$seq" --steps "$steps" \
           --threads "$threads" 2>>"$out/pytorch.log" | tail -n 1) || line=
  fi
  case $line in
    \{*) echo "$line" >&2
         echo "${line%\}}, \"load_before\": \"$before\", \"round\": $r}" >> "$out/$impl.$shape.jsonl" ;;
    *) echo "compare: $impl on $shape failed in round $r (see $out/$impl.log)" >&2; failed=1 ;;
  esac
}

IFS=, read -r -a shape_list <<< "$shapes"
for shape in "${shape_list[@]}"; do
  for ((r = 1; r <= rounds; r++)); do
    run_side lora4j "$shape" "$r"
    run_side pytorch "$shape" "$r"
    if [ "$checkpoint" != 0 ]; then run_side lora4j-ckpt "$shape" "$r"; fi
  done
done

# --- the GEMM ceiling: OpenBLAS sgemm on the models' layer shapes, same run ---------------------------------------
if [ "$gemm" != 0 ]; then
  echo "== GEMM ceiling (bench/gemm_compare.sh, load $(load))" >&2
  GEMM_OUT="$out/gemm" bench/gemm_compare.sh --layouts nt,nn --rounds 1 --seconds 1.0 \
    --shapes 1024x576x576,1024x1536x576,1024x576x1536,1024x384x384,1024x1536x384,1024x384x1536 \
    > "$out/gemm_table.txt" 2>>"$out/gemm.log" || { echo "compare: gemm_compare.sh failed (see $out/gemm.log)" >&2; failed=1; }
  cat "$out/gemm_table.txt" >&2 || true
fi

# --- table -------------------------------------------------------------------------------------------------------
"$PY" - "$out" "$shapes" <<'PYEOF'
import glob, json, os, statistics, sys

out, shapes = sys.argv[1], [s for s in sys.argv[2].split(",") if s]
ceiling = None
for path in glob.glob(os.path.join(out, "gemm", "openblas.*.jsonl")):
    for line in open(path):
        try:
            g = float(json.loads(line)["gflops"])
            ceiling = max(ceiling or 0.0, g)
        except (ValueError, KeyError):
            pass

def rows(impl, shape):
    p = os.path.join(out, f"{impl}.{shape}.jsonl")
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []

print()
print(f"OpenBLAS sgemm ceiling (best over the models' layer shapes, this run): "
      + (f"{ceiling:.1f} GFLOP/s" if ceiling else "not measured"))
fmt = "{:<13} {:<8} {:>6} {:>9} {:>8} {:>9} {:>8} {:>10}  {}"
print(fmt.format("shape", "impl", "rounds", "tokens/s", "step s", "RSS MB", "GFLOP/s", "% ceiling", "load before each run"))
for shape in shapes:
    j, t, c = rows("lora4j", shape), rows("pytorch", shape), rows("lora4j-ckpt", shape)
    flop = j[0]["gflop_per_step"] if j else None
    med = {}
    for impl, rs in (("lora4j", j), ("pytorch", t), ("lora4j-ckpt", c)):
        if impl == "lora4j-ckpt" and not rs:
            continue
        if not rs:
            print(fmt.format(shape, impl, 0, "-", "-", "-", "-", "-", "")); continue
        tok = statistics.median(r["tokens_per_s"] for r in rs)
        step = statistics.median(r["step_s"] for r in rs)
        rss = statistics.median(r["peak_rss_mb"] for r in rs)
        gf = flop / step if flop else None
        med[impl] = (tok, rss)
        print(fmt.format(shape, impl, len(rs), f"{tok:.1f}", f"{step:.3f}", f"{rss:.0f}", f"{gf:.1f}" if gf else "-",
                         f"{100 * gf / ceiling:.0f}%" if gf and ceiling else "-", "; ".join(r["load_before"] for r in rs)))
    if "lora4j" in med and "pytorch" in med:
        print(f"{shape}: tokens/s ratio lora4j/pytorch {med['lora4j'][0] / med['pytorch'][0]:.2f}x (target >= 2.0),"
              f" peak RSS ratio {med['lora4j'][1] / med['pytorch'][1]:.2f}x (target <= 0.5)")
        pairs = [a["tokens_per_s"] / b["tokens_per_s"] for a, b in zip(j, t)]
        print(f"{shape}: per-round tokens/s ratios " + ", ".join(f"{p:.2f}" for p in pairs))
    if "lora4j-ckpt" in med and "pytorch" in med:
        print(f"{shape}: with --grad-checkpoint: tokens/s ratio lora4j/pytorch {med['lora4j-ckpt'][0] / med['pytorch'][0]:.2f}x,"
              f" peak RSS ratio {med['lora4j-ckpt'][1] / med['pytorch'][1]:.2f}x")
    if "lora4j-ckpt" in med and "lora4j" in med:
        print(f"{shape}: gradient checkpointing costs {100 * (1 - med['lora4j-ckpt'][0] / med['lora4j'][0]):.0f}% of tokens/s"
              f" and saves {med['lora4j'][1] - med['lora4j-ckpt'][1]:.0f} MB of peak RSS")
PYEOF
exit "$failed"
