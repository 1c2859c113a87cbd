#!/bin/bash
# bench/throughput/run.sh — one TCP stream (iperf3) through a mobiked<->mobiked tunnel,
# through a strongSwan<->strongSwan tunnel (kernel-libipsec, user-space ESP like mobiked) and
# over the plain veth, in the same run. Prints Gbit/s for each, the ratios, and as its last
# line `BENCH {json}` (mobiked_gbps, strongswan_gbps, plain_gbps, ratio_vs_plain,
# ratio_vs_strongswan; medians over REPEAT rounds, plus every sample).
#
# Topology: two namespace pairs joined by a veth each (192.0.2.1/24 <-> 192.0.2.2/24), inner
# addresses 10.1.0.1 / 10.2.0.1 on lo, tunnel 10.1.0.0/16 <-> 10.2.0.0/16, IKE
# aes128gcm16-prfsha256-x25519, ESP aes128gcm16, ESP-in-UDP on both (strongSwan's libipsec
# only does UDP encapsulation; mobiked: encap = true). Pair "m" carries the plain run
# (veth addresses) and the mobiked run (inner addresses), pair "s" the strongSwan run.
# Rounds are interleaved (plain, mobiked, strongSwan, plain, ...) so background load on the
# shared machine hits all three alike.
#
# Environment: MOBIKED_BIN [build/release] (directory with mobiked and mobikectl),
# DURATION [10] seconds per iperf3 run, REPEAT [1] rounds, ONLY=plain,mobiked,strongswan
# OFFLOAD=false: mobiked without GSO/GRO and TUN offloads (daemon key offload)
# WORKERS=N: mobiked's data-plane threads (daemon key workers; default auto, one per core)
# STREAMS=N: parallel TCP streams (iperf3 -P) in every run [1]
# (comma list), PERF=1 records `perf record -g` of the initiating mobiked during its first
# run into the work dir (perf.data, and perf-report.txt), KEEP=1 keeps the work dir,
# MSS / ZEROCOPY: passed to iperf3 (-M, -Z) when set. Must run as root. Bounded by
# TIME_LIMIT (default 60 + 3 * REPEAT * (DURATION + 8) seconds).
# shellcheck source-path=SCRIPTDIR
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIB=$ROOT/tests/lib
DURATION=${DURATION:-10}
REPEAT=${REPEAT:-1}
# shellcheck source=../../tests/lib/netns.sh
. "$LIB/netns.sh"
netns_time_limit "${TIME_LIMIT:-$((60 + 3 * REPEAT * (DURATION + 8)))}" "$0" "$@"
# shellcheck source=../../tests/lib/strongswan.sh
. "$LIB/strongswan.sh"

BIN=${MOBIKED_BIN:-build/release}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
ONLY=${ONLY:-plain,mobiked,strongswan}
PERF=${PERF:-0}
want() { case ",$ONLY," in *",$1,"*) return 0 ;; esac; return 1; }

for tool in ip iperf3 timeout python3 swanctl "$SS_CHARON"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing tool: $tool (run scripts/install-deps.sh)" >&2; exit 2; }
done
if want mobiked; then
    [ -x "$BIN/mobiked" ] && [ -x "$BIN/mobikectl" ] || { echo "missing $BIN/mobiked or mobikectl (MOBIKED_BIN)" >&2; exit 2; }
fi

# shellcheck disable=SC2034  # read by netns_cleanup
NS_KEEP_WORKDIR=${KEEP:-0}
netns_init mktp$$-
W=$NS_WORKDIR
PSK=mobiked-bench-psk-0123456789abcdef

pair() {  # pair SHORT -> prints "NSA NSB"
    local a b
    a=$(ns_add "$1a") && b=$(ns_add "$1b") || return 1
    ns_link "$a" "$b" 192.0.2.1/24 192.0.2.2/24 "" "" va vb || return 1
    ns_lo_addr "$a" 10.1.0.1/32 && ns_lo_addr "$b" 10.2.0.1/32 || return 1
    printf '%s %s\n' "$a" "$b"
}

# iperf NSA NSB SRC DST LABEL — one TCP stream A -> B for DURATION s; prints Gbit/s (receiver)
iperf() {
    local na=$1 nb=$2 src=$3 dst=$4 label=$5 port=$((5201 + RANDOM % 1000))
    local out=$W/$label.json
    ns_spawn "$nb" "$W/$label.server" timeout $((DURATION + 15)) iperf3 -s -1 -B "$dst" -p "$port"
    local spid=$NS_LAST_PID
    wait_for "ip netns exec $nb ss -ltn | grep -q ':$port '" 5 0.05 || { log_err "iperf3 server did not start"; return 1; }
    local extra=()
    [ -n "${MSS:-}" ] && extra+=(-M "$MSS")
    [ -n "${ZEROCOPY:-}" ] && extra+=(-Z)
    [ "${STREAMS:-1}" != 1 ] && extra+=(-P "$STREAMS")
    ip netns exec "$na" timeout $((DURATION + 15)) iperf3 -c "$dst" -B "$src" -p "$port" -t "$DURATION" \
        -J "${extra[@]}" >"$out" 2>"$W/$label.client.err"
    kill_pid "$spid" 2
    python3 - "$out" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    print("%.3f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))
except Exception as e:
    print("iperf3 output unreadable: %s" % e, file=sys.stderr); sys.exit(1)
PY
}

# ------------------------------------------------------------------ mobiked pair
M_PIDS=()
mobiked_conf() {  # FILE WHO LOCAL REMOTE LID RID LTS RTS
    cat >"$1" <<CONF
daemon = {
  control_socket = "$W/$2.sock";
  tun = "mk$2";
  log = { default = "warning"; };
  offload = ${OFFLOAD:-true};
  workers = $(case ${WORKERS:-auto} in auto) echo '"auto"' ;; *) echo "$WORKERS" ;; esac);
};
connections = {
  c = {
    local_addrs = ["$3"];
    remote_addrs = ["$4"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    encap = true;
    local = { auth = "psk"; id = "$5"; };
    remote = { auth = "psk"; id = "$6"; };
    children = { net = { local_ts = ["$7"]; remote_ts = ["$8"]; esp_proposals = ["aes128gcm16"]; }; };
  };
};
secrets = { p = { ids = ["$5", "$6"]; secret = "$PSK"; }; };
CONF
}
start_mobiked() {  # NSA NSB
    mobiked_conf "$W/ma.conf" ma 192.0.2.1 192.0.2.2 a.bench b.bench 10.1.0.0/16 10.2.0.0/16
    mobiked_conf "$W/mb.conf" mb 192.0.2.2 %any b.bench a.bench 10.2.0.0/16 10.1.0.0/16
    ns_spawn "$1" "$W/ma.log" "$BIN/mobiked" --config "$W/ma.conf" --foreground; M_PIDS+=("$NS_LAST_PID")
    ns_spawn "$2" "$W/mb.log" "$BIN/mobiked" --config "$W/mb.conf" --foreground; M_PIDS+=("$NS_LAST_PID")
    wait_for "[ -S $W/ma.sock ] && [ -S $W/mb.sock ]" 10 0.1 || fail "mobiked did not start" "$W/ma.log" "$W/mb.log"
    ip netns exec "$1" "$BIN/mobikectl" --socket "$W/ma.sock" initiate --conn c --timeout 10 >"$W/ma.initiate" 2>&1 \
        || fail "mobiked: initiate failed" "$W/ma.initiate" "$W/ma.log" "$W/mb.log"
    ip netns exec "$1" ping -c 1 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "mobiked: no ping through the tunnel" "$W/ma.log" "$W/mb.log"
}

# ------------------------------------------------------------------ strongSwan pair
start_strongswan() {  # NSA NSB
    local di=$W/ss-i dr=$W/ss-r
    ss_conf "$di" role=initiator remote_addrs=192.0.2.2 local_addrs=192.0.2.1 local_id=a.bench remote_id=b.bench \
        psk="$PSK" local_ts=10.1.0.0/16 remote_ts=10.2.0.0/16 encap=yes mobike=no loglevels="default = 0" || fail "ss_conf"
    ss_conf "$dr" role=responder local_addrs=192.0.2.2 local_id=b.bench remote_id=a.bench \
        psk="$PSK" local_ts=10.2.0.0/16 remote_ts=10.1.0.0/16 encap=yes mobike=no loglevels="default = 0" || fail "ss_conf"
    ss_start "$di" "$1" 10 && ss_start "$dr" "$2" 10 || fail "charon did not start" "$di/charon.out" "$dr/charon.out"
    ss_load "$di" >"$di/load.out" 2>&1 && ss_load "$dr" >"$dr/load.out" 2>&1 || fail "swanctl --load-all" "$di/load.out" "$dr/load.out"
    ss_initiate "$di" "" 10 >"$di/initiate.out" 2>&1 || fail "strongSwan: initiate failed" "$di/initiate.out" "$di/charon.log"
    wait_for "ip netns exec $1 ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1" 5 0.2 || fail "strongSwan: no ping through the tunnel"
}

# ------------------------------------------------------------------ run
read -r MA MB <<<"$(pair m)" || fail "namespaces"
[ -n "$MB" ] || fail "namespaces"
if want strongswan; then
    read -r SA SB <<<"$(pair s)" || fail "namespaces"
    [ -n "$SB" ] || fail "namespaces"
fi
log_step "TCP throughput: $REPEAT round(s) of $DURATION s per path, one stream each"
want mobiked && { log_step "mobiked pair ($BIN)"; start_mobiked "$MA" "$MB"; }
want strongswan && { log_step "strongSwan pair (kernel-libipsec)"; start_strongswan "$SA" "$SB"; }

P=() M=() S=()
for ((r = 1; r <= REPEAT; r++)); do
    if want plain; then
        v=$(iperf "$MA" "$MB" 192.0.2.1 192.0.2.2 "plain-$r") && P+=("$v") || log_warn "plain round $r failed"
        log_info "round $r plain veth:  ${v:-?} Gbit/s"
    fi
    if want mobiked; then
        if [ "$PERF" = 1 ] && [ "$r" = 1 ] && command -v perf >/dev/null; then
            perf record -g -o "$W/perf.data" -p "${M_PIDS[0]}" -- sleep "$DURATION" >"$W/perf.out" 2>&1 &
            PERF_PID=$!; track_pid "$PERF_PID"
        fi
        v=$(iperf "$MA" "$MB" 10.1.0.1 10.2.0.1 "mobiked-$r") && M+=("$v") || log_warn "mobiked round $r failed"
        log_info "round $r mobiked:     ${v:-?} Gbit/s"
        if [ -n "${PERF_PID:-}" ]; then
            wait "$PERF_PID" 2>/dev/null; PERF_PID=
            perf report -i "$W/perf.data" --no-children --percent-limit 0.5 --stdio >"$W/perf-report.txt" 2>/dev/null
            log_info "perf profile of the initiator's mobiked: $W/perf-report.txt"; NS_KEEP_WORKDIR=1
        fi
    fi
    if want strongswan; then
        v=$(iperf "$SA" "$SB" 10.1.0.1 10.2.0.1 "strongswan-$r") && S+=("$v") || log_warn "strongSwan round $r failed"
        log_info "round $r strongSwan:  ${v:-?} Gbit/s"
    fi
done

if want mobiked; then
    for p in "${M_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || log_warn "mobiked $p died during the run"; done
    ip netns exec "$MA" "$BIN/mobikectl" --socket "$W/ma.sock" status >"$W/ma.status" 2>&1
    log_info "initiator data plane: $(grep -iA4 'data plane' "$W/ma.status" | tr -s ' ' | tr '\n' ' ')"
fi

python3 - "${P[*]:-}" "${M[*]:-}" "${S[*]:-}" "$DURATION" "$REPEAT" <<'PY'
import json, statistics, sys
def vals(s): return [float(x) for x in s.split()]
p, m, s = vals(sys.argv[1]), vals(sys.argv[2]), vals(sys.argv[3])
med = lambda v: round(statistics.median(v), 3) if v else None
P, M, S = med(p), med(m), med(s)
ratio = lambda a, b: round(a / b, 4) if a is not None and b else None
print()
print("%-28s %s" % ("path (median Gbit/s)", "samples"))
for name, v, x in (("plain veth", P, p), ("mobiked tunnel", M, m), ("strongSwan tunnel", S, s)):
    print("%-18s %9s  %s" % (name, "-" if v is None else "%.3f" % v, " ".join("%.3f" % y for y in x)))
print("mobiked / plain      = %s" % ratio(M, P))
print("mobiked / strongSwan = %s" % ratio(M, S))
print("BENCH " + json.dumps({
    "bench": "throughput", "duration_s": int(sys.argv[4]), "rounds": int(sys.argv[5]),
    "mobiked_gbps": M, "strongswan_gbps": S, "plain_gbps": P,
    "ratio_vs_plain": ratio(M, P), "ratio_vs_strongswan": ratio(M, S),
    "samples": {"mobiked": m, "strongswan": s, "plain": p}}))
PY
