#!/usr/bin/env bash
# bench/curate.sh — `deepc curate` against datatrove (PyPI) on the same corpus in the same run:
# throughput (MB of JSONL per second) for the full pipeline (Gopher repetition + Gopher quality +
# C4 + FineWeb filters, PII, MinHash 14x8 over word 5-grams) and for MinHash dedup alone, plus
# the agreement of the two on which documents are removed.
#   bash bench/curate.sh            (CURATE_BENCH_MB=10 THREADS=2 by default)
# datatrove is installed into a private venv under the work folder; without network or pip the
# peer is skipped with a message and only deepc's figures are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${CURATE_BENCH_MB:-10}
THREADS=${THREADS:-2}
W=${CURATE_BENCH_DIR:-${TMPDIR:-/tmp}/deepc_bench_curate}
mkdir -p "$W"
[ -x ./deepc ] || make -j2 deepc >/dev/null
python3 bench/curate_corpus.py "$W/corpus.jsonl" "$MB"
SIZE=$(stat -c %s "$W/corpus.jsonl")
cat >"$W/full.json" <<J
{"stages": {"normalize": true, "exact_dedup": true, "filters": true, "pii": true, "decontam": false, "near_dedup": true},
 "write_removed": false}
J
cat >"$W/dedup.json" <<J
{"stages": {"normalize": false, "exact_dedup": false, "filters": false, "pii": false, "decontam": false, "near_dedup": true},
 "write_removed": false}
J
run_deepc() {  # mode
    rm -rf "$W/deepc_$1"
    local t0=$(date +%s.%N)
    ./deepc curate --quiet --threads "$THREADS" --config "$W/$1.json" --input "$W/corpus.jsonl" --out "$W/deepc_$1" 2>/dev/null
    local t1=$(date +%s.%N)
    python3 -c "import json;print('\n'.join(json.loads(l)['id'] for l in open('$W/deepc_$1/data.jsonl')))" >"$W/deepc_$1/kept_ids.txt"
    echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}
T_FULL=$(run_deepc full); T_DEDUP=$(run_deepc dedup)
printf 'deepc     full  %7.2f s  %7.2f MB/s\n' "$T_FULL" "$(echo "$SIZE $T_FULL" | awk '{print $1/1e6/$2}')"
printf 'deepc     dedup %7.2f s  %7.2f MB/s\n' "$T_DEDUP" "$(echo "$SIZE $T_DEDUP" | awk '{print $1/1e6/$2}')"

VENV="$W/venv"
if ! "$VENV/bin/python" -c "import datatrove, spacy, nltk, tokenizers, orjson, xxhash; xxhash.xxh64_intdigest('x')" >/dev/null 2>&1; then
    echo "installing datatrove into $VENV (bench only)..."
    if ! { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q datatrove spacy nltk regex "xxhash<4" tokenizers orjson; } >"$W/pip.log" 2>&1; then
        echo "datatrove: not available (pip install failed, see $W/pip.log); peer comparison skipped"
        exit 0
    fi
fi
for mode in full dedup; do
    if ! line=$("$VENV/bin/python" bench/curate_datatrove.py "$mode" "$W/corpus.jsonl" "$W/dt_$mode" "$THREADS" 2>"$W/dt_$mode.log" | tail -1); then
        echo "datatrove $mode: failed (see $W/dt_$mode.log); skipped"; continue
    fi
    secs=$(echo "$line" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
    T=$([ "$mode" = full ] && echo "$T_FULL" || echo "$T_DEDUP")
    printf 'datatrove %-5s %7.2f s  %7.2f MB/s   deepc is %.1fx faster\n' "$mode" "$secs" \
        "$(echo "$SIZE $secs" | awk '{print $1/1e6/$2}')" "$(echo "$secs $T" | awk '{print $1/$2}')"
    python3 - "$W/corpus.jsonl" "$W/deepc_$mode/kept_ids.txt" "$W/dt_$mode/kept_ids.txt" "$mode" <<'PY'
import json, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1])]
a = set(open(sys.argv[2]).read().split()); b = set(open(sys.argv[3]).read().split())
ra = {i for i in ids if i not in a}; rb = {i for i in ids if i not in b}
same = sum((i in ra) == (i in rb) for i in ids)
print(f"  {sys.argv[4]}: removed deepc {len(ra)}, datatrove {len(rb)}, both {len(ra & rb)}; "
      f"overlap (Jaccard of removed sets) {len(ra & rb) / max(1, len(ra | rb)):.3f}; same decision on {same / len(ids):.3f} of {len(ids)} documents")
PY
done
