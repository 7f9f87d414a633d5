#!/usr/bin/env bash
# Runs every C test program in build/tests and every reference script in
# tests/ref/test_*.py; counts "PASS name" / "FAIL name" lines and prints the
# closing line "N passed, N failed". A program that crashes or exits non-zero
# without reporting a failure counts as one failure. "SKIP name: why" lines (a
# test whose tools are missing, e.g. MPI) count as neither and are listed.
set -u
cd "$(dirname "$0")/.."
pass=0; fail=0; skipped=""
log=$(mktemp -d)
run_one() {  # name, command...
    local name=$1; shift
    local out="$log/$(echo "$name" | tr '/' '_').out"
    local t0=$(date +%s)
    "$@" >"$out" 2>&1
    local rc=$?
    local p=$(grep -c '^PASS ' "$out"); local f=$(grep -c '^FAIL ' "$out"); local s=$(grep -c '^SKIP ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL $name (exit code $rc)" >>"$out"; fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then f=1; echo "FAIL $name (reported no tests)" >>"$out"; fi
    if [ "$s" -ne 0 ]; then skipped="$skipped$(grep '^SKIP ' "$out")"$'\n'; fi
    pass=$((pass + p)); fail=$((fail + f))
    printf '%-40s %3d passed, %d failed%s  (%ds)\n' "$name" "$p" "$f" "$([ "$s" -ne 0 ] && echo ", $s skipped")" "$(( $(date +%s) - t0 ))"
    if [ "$f" -ne 0 ]; then grep -v '^PASS ' "$out" | tail -40 | sed 's/^/    /'; fi
}
for t in build/tests/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.d) continue;; esac
    run_one "$t" "$t"
done
PY=${PYTHON:-python3}
for t in tests/ref/test_*.py; do
    [ -f "$t" ] || continue
    run_one "$t" "$PY" "$t"
done
rm -rf "$log"
[ -n "$skipped" ] && printf '%s' "$skipped"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
