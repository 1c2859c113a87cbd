#!/usr/bin/env bash
# The demo (scripts/demo.sh, the README's first command) as a test: it runs
# to the end and its figures are sane, and it leaves nothing behind.
#   1. a full run: exit status 0; the last line `DEMO {json}`: the tunnel came
#      up, an inner address was leased, both moves are confirmed in the MN's
#      move history (confirmation time given), probes flowed 1-2 s after each
#      move, few probes lost, pings answered, the SPIs survived the moves; the
#      live status table and the negotiated algorithms were printed; the PNG
#      timeline exists and is a PNG
#   2. an interrupted run (SIGINT to its process group, as Ctrl-C does, while
#      the probes run): it exits and still prints its DEMO line
#   After each: none of its namespaces, mobiked processes, TUN devices or
#   temp dirs are left.
# Prints "N passed, N failed" last. Needs root and a build (MOBIKED_BIN,
# default build/release).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${MOBIKED_BIN:-build/release}
source tests/lib/netns.sh
netns_time_limit 170 "$0" "$@"
netns_init

source tests/lib/results.sh
D=$(tmp_dir demo)

# demo_field FILE PY_EXPR — PY_EXPR with d = the DEMO json of FILE's last DEMO line
demo_field() {
    sed -n 's/^DEMO //p' "$1" | tail -1 | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)" 2>/dev/null
}

# no_leaks WHAT FILE — nothing of the run whose output is FILE is left
no_leaks() {
    local what=$1 out=$2 prefix pids left=""
    prefix=$(demo_field "$out" "d['ns_prefix']")
    [ -n "$prefix" ] || { failed "$what: no ns_prefix in the DEMO line"; return; }
    pids=$(demo_field "$out" "' '.join(map(str, d.get('daemon_pids') or []))")
    local ns; ns=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$prefix" | tr '\n' ' ')
    [ -z "$ns" ] || left+="namespaces: $ns; "
    local p; for p in $pids; do
        if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -q mobiked; then left+="mobiked pid $p; "; fi
    done
    # any process still referring to the demo's work dir (/tmp/<prefix>.XXXXXX)
    local c; for c in /proc/[0-9]*/cmdline; do
        if tr '\0' ' ' <"$c" 2>/dev/null | grep -q "/tmp/${prefix%-}\."; then left+="process ${c//[^0-9]/}: $(tr '\0' ' ' <"$c"); "; fi
    done
    local tun; tun=$(ip -o link show 2>/dev/null | grep -oE 'demo-(gw|mn)' | tr '\n' ' ')
    [ -z "$tun" ] || left+="TUN devices: $tun; "
    local dirs; dirs=$(ls -d "/tmp/${prefix%-}."* 2>/dev/null | tr '\n' ' ')
    [ -z "$dirs" ] || left+="temp dirs: $dirs; "
    if [ -z "$left" ]; then pass "$what: nothing left (namespaces ${prefix}*, daemons ${pids:-none}, TUN devices, temp dir)"
    else failed "$what: left behind: $left"; fi
}

# ------------------------------------------------------------- 1. full run
log_step "full demo run"
OUT1=$D/out1
t0=$(date +%s%N)
MOBIKED_BIN=$BIN MOBIKED_DEMO_OUT=$OUT1 timeout -k 5 100 scripts/demo.sh >"$D/run1.out" 2>&1
rc=$?
secs=$(( ($(date +%s%N) - t0) / 1000000000 ))
tail -n 45 "$D/run1.out" | sed 's/^/    | /' >&2
if [ "$rc" = 0 ] && [ "$secs" -lt 90 ]; then pass "demo exits 0 after $secs s"
else failed "demo exit status $rc after $secs s"; fi
if [ "$(tail -1 "$D/run1.out" | cut -c1-5)" = "DEMO " ]; then pass "last line is DEMO {json}"
else failed "last line: $(tail -1 "$D/run1.out")"; fi
f() { demo_field "$D/run1.out" "$1"; }

if [ "$(f "d['tunnel_up'] and d['ok']")" = True ]; then
    pass "tunnel up in $(f "d['establish_ms']") ms, inner address $(f "d['vip']"), negotiated $(f "d['negotiated']['ike'] + ' / ' + d['negotiated']['esp']")"
else failed "tunnel_up/ok: $(f "d.get('tunnel_up'), d.get('ok'), d.get('error')")"; fi
if grep -q '^Negotiated: IKE ' "$D/run1.out" && grep -q 'mobikectl list-sas' "$D/run1.out"; then pass "negotiated algorithms printed"
else failed "no 'Negotiated:' printout"; fi
ticks=$(grep -cE '^ *[0-9]+\.[0-9]s  ' "$D/run1.out")
if [ "${ticks:-0}" -ge 12 ]; then pass "live status table: $ticks lines"
else failed "live status table: ${ticks:-0} lines"; fi

nmoves=$(f "len(d['moves'])")
if [ "$nmoves" = 2 ]; then pass "two moves reported"; else failed "moves: $(f "d.get('moves')")"; fi
for i in 0 1; do
    [ "${nmoves:-0}" -gt "$i" ] || break
    m=$(f "' '.join(str(d['moves'][$i][k]) for k in ('name', 'state', 'to_local', 'lost', 'gap_ms', 'confirm_ms', 'flowing_after'))")
    read -r name state to lost gap conf after <<<"$m"
    if [ "$state" = done ] && python3 -c "import sys; c=float(sys.argv[1]); sys.exit(0 if 0 < c < 2000 else 1)" "$conf" 2>/dev/null; then
        pass "$name: confirmed in the move history after $conf ms (to $to)"
    else failed "$name: state $state, confirm_ms $conf"; fi
    if [ "${after:-0}" -ge 150 ]; then pass "$name: probes flowing after the move ($after in the 2nd second)"
    else failed "$name: only ${after:-0} probes 1-2 s after the move"; fi
    if [ "${lost:-999}" -le 40 ] && python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 500 else 1)" "$gap"; then
        pass "$name: interruption $lost probes lost, longest gap $gap ms"
    else failed "$name: interruption: $lost lost, longest gap $gap ms"; fi
done
case $(f "d['moves'][0]['to_local']") in 198.51.100.10*) pass "move 1 went to uplink 2" ;; *) failed "move 1 to $(f "d['moves'][0]['to_local']")" ;; esac
case $(f "d['moves'][1]['to_local']") in 192.0.2.10*) pass "move 2 went back to uplink 1" ;; *) failed "move 2 to $(f "d['moves'][1]['to_local']")" ;; esac
if [ "$(f "d['spis_unchanged']")" = True ]; then pass "same SPIs before and after the moves"; else failed "SPIs changed"; fi
if [ "$(f "d['pings']['received'] > 0 and d['probes']['lost'] <= 80")" = True ]; then
    pass "pings $(f "d['pings']['received']")/$(f "d['pings']['sent']") answered; probes $(f "d['probes']['lost']") lost of $(f "d['probes']['sent_upto']")"
else failed "pings/probes: $(f "d['pings'], d['probes']")"; fi
png=$(f "d['png']")
if [ -n "$png" ] && [ -s "$png" ] && [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
    pass "PNG timeline $png ($(stat -c %s "$png") bytes)"
else failed "PNG timeline '$png' missing or not a PNG"; fi
if grep -q "Timeline of the probe stream around the moves: $png" "$D/run1.out"; then pass "PNG path printed"
else failed "PNG path not printed"; fi
no_leaks "full run" "$D/run1.out"

# ------------------------------------------------------------- 2. Ctrl-C
log_step "interrupted demo run (SIGINT while the probes run)"
OUT2=$D/out2
set -m   # own process group for the demo, and SIGINT not ignored in it, as in a terminal
MOBIKED_BIN=$BIN MOBIKED_DEMO_OUT=$OUT2 timeout -k 5 100 scripts/demo.sh >"$D/run2.out" 2>&1 &
DEMO_PID=$!
set +m
track_pid "$DEMO_PID"
if wait_for "grep -q 'move 1:' '$D/run2.out' || ! kill -0 $DEMO_PID" 40 0.2 && kill -0 "$DEMO_PID" 2>/dev/null; then
    kill -INT -- -"$DEMO_PID" 2>/dev/null
    wait_for "! kill -0 $DEMO_PID" 20 0.1
    wait "$DEMO_PID" 2>/dev/null; rc=$?
    if [ "$rc" != 0 ] && ! kill -0 "$DEMO_PID" 2>/dev/null; then pass "interrupted demo exits (status $rc)"
    else failed "interrupted demo: status $rc, running: $(kill -0 "$DEMO_PID" 2>/dev/null && echo yes || echo no)"; fi
    if [ "$(demo_field "$D/run2.out" "d['ok'], d['tunnel_up']")" = "False True" ]; then
        pass "interrupted demo prints its DEMO line ($(demo_field "$D/run2.out" "d.get('error')"))"
    else failed "interrupted demo: DEMO line $(sed -n 's/^DEMO //p' "$D/run2.out")"; fi
    no_leaks "interrupted run" "$D/run2.out"
else
    failed "interrupted demo: did not reach the first move"; tail -20 "$D/run2.out" >&2
fi
rm -rf "$OUT1" "$OUT2"
finish
