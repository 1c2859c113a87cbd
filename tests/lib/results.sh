# tests/lib/results.sh — pass/fail bookkeeping shared by the netns system tests.
#   pass MSG       count and log a passed check
#   failed MSG     count, remember and log a failed one
#   check MSG CMD  run CMD: pass or failed with MSG
#   finish         print every failure, then "N passed, N failed"; exit non-zero on failure
# Needs log_info / log_err (tests/lib/netns.sh).
PASSED=0
FAILED=0
FAILURES=()
pass() { PASSED=$((PASSED + 1)); log_info "PASS: $*"; }
failed() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); log_err "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then pass "$what"; else failed "$what"; fi; }
finish() {
    echo
    local f
    for f in "${FAILURES[@]}"; do echo "FAILED: $f"; done
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
    exit
}
