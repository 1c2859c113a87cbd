# shellcheck shell=bash
# tests/lib/mobiked_checks.sh: the common frame of mobiked's interop tests.
# Source after netns.sh and strongswan.sh, with ROOT set to the repository;
# then call mk_checks_init. It checks the tools, finds the mobiked binaries
# ($BIN, from MOBIKED_BIN or build/release), starts the namespace run, and
# defines the result helpers below. The run prints "N passed, N failed" even
# when it is aborted (NS_EXIT_HOOK).
#   pass MSG / failc MSG       count a result for scenario $CUR; failc dumps ${LOGS[@]}
#   check DESC CMD...          run CMD and count it as DESC
#   to_file FILE CMD...        run CMD with its output in FILE

mk_checks_init() {
    local tool
    for tool in ip unshare timeout python3 ping swanctl "$SS_CHARON"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "missing tool: $tool (run scripts/install-deps.sh)" >&2; exit 2; }
    done
    BIN=$(cd "${MOBIKED_BIN:-$ROOT/build/release}" 2>/dev/null && pwd)
    if [ -z "$BIN" ] || [ ! -x "$BIN/mobiked" ] || [ ! -x "$BIN/mobikectl" ]; then
        echo "no mobiked/mobikectl in ${MOBIKED_BIN:-build/release}"; echo "0 passed, 1 failed"; exit 1
    fi
    NS_KEEP_WORKDIR=${KEEP:-0}
    netns_init
    PASSED=0
    FAILED=0
    SUMMARY_DONE=0
    NS_EXIT_HOOK=early_exit
    CUR=""
    LOGS=()
}

early_exit() { [ "$SUMMARY_DONE" = 1 ] || echo "$PASSED passed, $((FAILED + 1)) failed (aborted with status $1)"; }
pass() { PASSED=$((PASSED + 1)); log_info "PASS [$CUR] $*"; }
failc() {
    FAILED=$((FAILED + 1)); log_err "FAIL [$CUR] $*"
    [ "${#LOGS[@]}" -gt 0 ] && NS_DUMP_LINES=${NS_DUMP_LINES:-80} dump_logs "${LOGS[@]}"
    return 0
}
check() { local d=$1; shift; if "$@"; then pass "$d"; return 0; else failc "$d"; return 1; fi; }
to_file() { local f=$1; shift; "$@" >"$f" 2>&1; }
