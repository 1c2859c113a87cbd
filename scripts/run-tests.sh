#!/usr/bin/env bash
# The test command: installs dependencies, builds, and runs every suite —
# unit, exchange simulation, sanitizer build, bounded fuzzing, network-namespace
# system tests and strongSwan interop. Must run as root (namespaces).
# Ends with one line "N passed, N failed" over all suites.
#   scripts/run-tests.sh            everything
#   SKIP_INTEROP=1 / SKIP_FUZZ=1 / SKIP_ASAN=1 scripts/run-tests.sh   to narrow a local run
set -uo pipefail
cd "$(dirname "$0")/.."
export FUZZ_SECONDS=${FUZZ_SECONDS:-30}

scripts/install-deps.sh || { echo "dependency installation failed"; exit 1; }
echo "== build (release)"
scripts/build.sh release || { echo "build failed"; exit 1; }

passed=0 failed=0 failures=()
suite() {  # suite NAME COMMAND...
    local name=$1; shift
    echo "== $name"
    local start=$SECONDS
    if "$@"; then
        passed=$((passed + 1)); echo "-- $name: ok ($((SECONDS - start)) s)"
    else
        failed=$((failed + 1)); failures+=("$name"); echo "-- $name: FAILED ($((SECONDS - start)) s)"
    fi
}

suite "unit+sim (release)" ctest --test-dir build/release -j"$(nproc)" --output-on-failure --timeout 600
if [ -z "${SKIP_ASAN:-}" ]; then
    suite "unit+sim (ASan+UBSan)" bash -c 'scripts/build.sh debug-asan && ctest --test-dir build/asan -j"$(nproc)" --output-on-failure --timeout 900'
fi
[ -z "${SKIP_FUZZ:-}" ] && suite "fuzz (${FUZZ_SECONDS}s per target)" scripts/run-fuzz.sh
for t in tests/netns/*_test.sh; do
    [ -e "$t" ] && suite "netns $(basename "$t" .sh)" timeout 300 bash "$t"
done
if [ -z "${SKIP_INTEROP:-}" ]; then
    for t in tests/interop/*_test.sh; do
        [ -e "$t" ] && suite "interop $(basename "$t" .sh)" timeout 300 bash "$t"
    done
fi

echo
[ ${#failures[@]} -gt 0 ] && printf 'failed suite: %s\n' "${failures[@]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" = 0 ]
