#!/usr/bin/env bash
# bench/mpi_train.sh — data-parallel pre-training throughput on one machine: the same preset,
# the same global batch (G rows of T tokens per optimizer step) and the same data, run as
#   1t      ./deepc pretrain --threads 1 --batch G
#   2t      ./deepc pretrain --threads 2 --batch G
#   mpi     mpirun -np 2 ./deepc-mpi pretrain --threads 1 --batch G/2            (--zero 0)
#   mpi-z1  mpirun -np 2 ./deepc-mpi pretrain --threads 1 --batch G/2 --zero 1
# alternated --repeat times. Per run: the median tok/s (the whole job's, from metrics.jsonl)
# over the steps after the first --skip, and the median comm_s (seconds per step inside MPI
# collectives, waits for the other rank included); per process (each rank) its CPU seconds and
# max RSS (/usr/bin/time), giving tokens per CPU-second over the whole run (start-up included),
# which a shared machine disturbs less than tok/s. Prints one line per run and a summary
# (median over the repeats) with ratios against 1t and 2t.
#
# usage: bench/mpi_train.sh [--preset bench-train] [--batch 8] [--seq 256] [--steps 30] [--skip 5]
#                           [--repeat 3] [--text FILE]     (make deepc deepc-mpi first)
# Data: a 1024-token BPE tokenizer trained on --text (default ../shared/data/tinyshakespeare/input.txt)
# and its shards, made in a temp folder. Environment: OMP_WAIT_POLICY=passive, and for mpirun
# --oversubscribe --bind-to none with OMPI_MCA_mpi_yield_when_idle=1 (waiting ranks yield their
# core; set it to 0 in the environment to measure spinning).
set -euo pipefail
preset=bench-train; batch=8; seq=256; steps=30; skip=5; repeat=3
text=../shared/data/tinyshakespeare/input.txt
while [ $# -gt 0 ]; do
    case "$1" in
        --preset) preset=$2; shift 2;; --batch) batch=$2; shift 2;; --seq) seq=$2; shift 2;;
        --steps) steps=$2; shift 2;; --skip) skip=$2; shift 2;; --repeat) repeat=$2; shift 2;;
        --text) text=$2; shift 2;;
        *) echo "bench/mpi_train.sh: unknown option $1 (see the comment at the top)" >&2; exit 2;;
    esac
done
[ -x ./deepc ] && [ -x ./deepc-mpi ] || { echo "build first: make deepc deepc-mpi" >&2; exit 2; }
[ -f "$text" ] || { echo "no text file $text (give --text FILE)" >&2; exit 2; }
[ $((batch % 2)) -eq 0 ] || { echo "--batch must be even (2 ranks)" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "mpirun not found" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found (Debian package time)" >&2; exit 2; }
export OMP_WAIT_POLICY=passive
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
export OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle:-1}
work=$(mktemp -d -t deepc_bench_mpi_XXXXXX)
trap 'rm -rf "$work"' EXIT
./deepc tokenizer train --input "$text" --vocab-size 1024 --out "$work/tok" >/dev/null 2>&1
./deepc tokenize --tokenizer "$work/tok" --input "$text" --out "$work/data" >/dev/null 2>&1
common="--preset $preset --data $work/data --seq $seq --steps $steps --samples 0 --quiet --eval-every 100000 --save-every 100000 --seed 7"
echo "# preset $preset, global batch $batch x $seq tokens, $steps steps (median after $skip), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%F %H:%M UTC')"

# median tok_per_s and comm_s of RUN/metrics.jsonl over steps > skip
stats() {
    python3 - "$1/metrics.jsonl" "$skip" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
rows = [r for r in rows if r["step"] > int(sys.argv[2])]
tps = statistics.median(r["tok_per_s"] for r in rows)
comm = [r["comm_s"] for r in rows if "comm_s" in r]
print(f"{tps:.0f} {statistics.median(comm) if comm else 0:.4f}")
PY
}

declare -A all
for rep in $(seq 1 "$repeat"); do
    for kind in 1t 2t mpi mpi-z1; do
        out="$work/run-$kind-$rep"
        # each process under /usr/bin/time: "maxrss_kB user_s sys_s" in $out.time.<rank>
        case $kind in
            1t) /usr/bin/time -f '%M %U %S' -o "$out.time.0" ./deepc pretrain $common --batch "$batch" --threads 1 --out "$out" >"$out.log" 2>&1 ;;
            2t) /usr/bin/time -f '%M %U %S' -o "$out.time.0" ./deepc pretrain $common --batch "$batch" --threads 2 --out "$out" >"$out.log" 2>&1 ;;
            mpi|mpi-z1) z=0; [ $kind = mpi-z1 ] && z=1
                mpirun --oversubscribe --bind-to none -np 2 sh -c "exec /usr/bin/time -f '%M %U %S' -o $out.time.\$OMPI_COMM_WORLD_RANK ./deepc-mpi pretrain $common --batch $((batch / 2)) --threads 1 --zero $z --out $out" >"$out.log" 2>&1 ;;
        esac || { echo "run $kind failed:"; tail -5 "$out.log"; exit 1; }
        read -r tps comm < <(stats "$out")
        bytes=$(grep -o 'optimizer state bytes per rank: [0-9 ]*' "$out.log" | sed 's/.*rank: //; s/ *$//')
        cpu=$(cat "$out".time.* | awk '{c += $2 + $3} END {printf "%.1f", c}')
        rss=$(cat "$out".time.* | awk '{printf "%s%d", (NR > 1 ? "+" : ""), $1 / 1024}')
        tpc=$(python3 -c "print(round($steps * $batch * $seq / $cpu))")
        echo "run $rep $kind: $tps tok/s, comm $comm s/step, $tpc tok/CPU-s ($cpu CPU-s), max RSS $rss MB, optimizer state bytes per rank: $bytes, load $(cut -d' ' -f1 /proc/loadavg)"
        all[$kind]="${all[$kind]:-} $tps"
        all[$kind-comm]="${all[$kind-comm]:-} $comm"
        all[$kind-tpc]="${all[$kind-tpc]:-} $tpc"
    done
done
med() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" $1; }
one=$(med "${all[1t]}"); two=$(med "${all[2t]}")
echo "# median over $repeat runs (ratio vs 1t, vs 2t):"
for kind in 1t 2t mpi mpi-z1; do
    m=$(med "${all[$kind]}"); c=$(med "${all[$kind-comm]}"); t=$(med "${all[$kind-tpc]}")
    python3 -c "print(f'$kind: {$m:.0f} tok/s  x{$m/$one:.2f} vs 1t  x{$m/$two:.2f} vs 2t  comm {$c:.4f} s/step  {$t:.0f} tok/CPU-s')"
done
