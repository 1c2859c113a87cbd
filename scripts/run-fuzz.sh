#!/usr/bin/env bash
# Builds the libFuzzer targets (clang) and runs each for a bounded time on its
# seed corpus (tests/fuzz/corpus/<target without fuzz_>/, copied so CI leaves
# the tree untouched). Exits non-zero if any target crashes or leaks.
#   FUZZ_SECONDS=30 scripts/run-fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
export LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! scripts/build.sh fuzz >"$work/build.log" 2>&1; then
    echo "fuzz: build failed"; grep -E "error|FAILED" "$work/build.log" | head -40
    echo "fuzz: 0 passed, 1 failed"; exit 1
fi
pass=0 fail=0
for bin in build/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    corpus="$work/$name"
    mkdir -p "$corpus"
    seeds="tests/fuzz/corpus/${name#fuzz_}"
    [ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
    if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/" "$corpus" >"$work/$name.log" 2>&1; then
        execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$work/$name.log" | grep -oE '[0-9]+$' || echo '?')
        echo "fuzz $name: ok ($execs inputs in ${seconds}s)"
        pass=$((pass + 1))
    else
        echo "fuzz $name: FAILED"; tail -40 "$work/$name.log"
        fail=$((fail + 1))
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" = 0 ]
