#!/bin/bash
# bench/handover/run.sh — how long the data path is interrupted when a mobile IKE initiator
# loses its address (or its link), mobiked vs strongSwan 5.9.8, all in the same run.
#
# Topology (as tests/netns/mobike_test.sh), fresh namespaces per case:
#   mover m (IKE initiator)  va1 192.0.2.1/24    ---- vb1 192.0.2.2/24     responder r
#                            va2 198.51.100.1/24 ---- vb2 198.51.100.2/24
#   r's IKE address 203.0.113.2 sits on its lo, routed from m over link 1 and link 2 (the
#   current link has the lower metric); inner addresses on lo: m 10.1.0.1, r 10.2.0.1.
#   A UDP probe (tests/lib/udp_probe.py) every PROBE_MS (1) ms, 10.1.0.1 -> 10.2.0.1 through
#   the tunnel, for the whole case; the receiver writes "seq send_ns recv_ns" per datagram.
#
# Cases (CASES, default all, in this order):
#   mobike       mobiked <-> mobiked with MOBIKE: MOVES times, remove the mover's current
#                address (address monitor -> path manager -> UPDATE_SA_ADDRESSES), wait,
#                re-add it with a less preferred route (nothing moves), next time remove the
#                other one, ...
#   reestablish  the same with `mobike = false;` on both ends: the daemon re-establishes by
#                itself if it can (REESTABLISH=detect: probed on a first, uncounted move),
#                else the bench runs `mobikectl terminate` + `mobikectl initiate` right
#                after removing the address (REESTABLISH=manual forces that).
#   strongswan   strongSwan 5.9.8 with kernel-libipsec on both ends, same moves (SS_MOVES).
#   mbb          make-before-break (mobiked): a more preferred route over the other link
#                (onlink), then an address there: the address event makes the path manager
#                see that the route prefers the new source and move while both paths work;
#                then the old address is removed; MBB_REPS repetitions; lost probes
#                (target 0). MBB_ORDER=addr-first adds the address first and the route
#                after it (a route change alone is no event for mobiked's address monitor,
#                which listens to addresses and links only: the SA then moves at the break).
#   transport    MOBIKEv2 (mobike_versions [1, 2]): the same address-loss moves as mobike, with
#                a transport-mode SA between the hosts' own addresses (dynamic selectors);
#                the probe runs from the mover's current address (chosen by the route) to
#                r's address 203.0.113.2, so after a move it leaves from the new one.
#   silent       silent link cut (mobiked, mover's connection `path_timeout = PATH_TIMEOUT;`
#                when the daemon knows the key): nftables in r drops everything on the
#                current link (no address or link event); recovery = cut -> first probe
#                through again; CUT_REPS repetitions.
# Per event: interruption = longest gap between consecutive arrivals around it (ms), lost
# probes, recovery = event -> end of that gap. Tables, same-run ratios, a PNG of the probe
# stream around one representative (median) event per case, raw data, in OUT.
#
# Usage: sudo bench/handover/run.sh [--quick] [--out DIR] [--cases "mobike mbb ..."]
# Environment: MOBIKED_BIN [build/release], MOVES [24], SS_MOVES [20], MBB_REPS [10],
# CUT_REPS [10], PATH_TIMEOUT [0.3], PROBE_MS [1], REESTABLISH=detect|manual|auto [detect],
# MBB_ORDER=route-first|addr-first [route-first], PROBE_RT [20: SCHED_FIFO priority], NICE [-10],
# KEEP=1 (keep the namespace work dir with daemon logs; the OUT dir always keeps copies),
# TIME_LIMIT [420] s for the whole run. Must run as root. Last line: BENCH {json}.
# shellcheck source-path=SCRIPTDIR
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIB=$ROOT/tests/lib
# shellcheck source=../../tests/lib/netns.sh
. "$LIB/netns.sh"
netns_time_limit "${TIME_LIMIT:-420}" "$0" "$@"
# shellcheck source=../../tests/lib/strongswan.sh
. "$LIB/strongswan.sh"

OUT=/tmp/mobiked-bench-handover
QUICK=0
CASES=${CASES:-"mobike reestablish strongswan mbb silent transport"}
while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1 ;;
        --out) OUT=$2; shift ;;
        --out=*) OUT=${1#--out=} ;;
        --cases) CASES=$2; shift ;;
        -h|--help) sed -n '2,/^# shellcheck/p' "$0" | sed 's/^# \{0,1\}//; /^shellcheck/d'; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then
    MOVES=${MOVES:-4}; SS_MOVES=${SS_MOVES:-3}; MBB_REPS=${MBB_REPS:-2}; CUT_REPS=${CUT_REPS:-2}
else
    MOVES=${MOVES:-24}; SS_MOVES=${SS_MOVES:-20}; MBB_REPS=${MBB_REPS:-10}; CUT_REPS=${CUT_REPS:-10}
fi
PATH_TIMEOUT=${PATH_TIMEOUT:-0.3}
PROBE_MS=${PROBE_MS:-1}
REESTABLISH=${REESTABLISH:-detect}
MBB_ORDER=${MBB_ORDER:-route-first}

for tool in ip nft unshare timeout python3 gnuplot swanctl "$SS_CHARON"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing tool: $tool (run scripts/install-deps.sh)" >&2; exit 2; }
done
BIN=$(cd "${MOBIKED_BIN:-$ROOT/build/release}" 2>/dev/null && pwd)
if [ -z "$BIN" ] || [ ! -x "$BIN/mobiked" ] || [ ! -x "$BIN/mobikectl" ]; then
    echo "no mobiked/mobikectl in ${MOBIKED_BIN:-build/release} (set MOBIKED_BIN)" >&2; exit 2
fi
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
# only our own files: a previous run's results must not mix with this one's
rm -f "$OUT"/*.trace "$OUT"/*.events "$OUT"/*.meta "$OUT"/*.dat "$OUT"/*.png "$OUT"/*.tsv \
      "$OUT"/*.log "$OUT"/*.json "$OUT"/*.summary "$OUT"/*.send "$OUT"/*.conf 2>/dev/null

# shellcheck disable=SC2034  # read by netns_cleanup
NS_KEEP_WORKDIR=${KEEP:-0}
netns_init "mkho$$-"
W=$NS_WORKDIR
T_START=$(date +%s%N)
PSK=$(openssl rand -hex 24)
SS_PSK=mobiked-bench-handover-psk-0123456789

# Scheduling: the machine is shared (other builds run beside us). The probe's sender and
# receiver run SCHED_FIFO (PROBE_RT, chrt priority; 0 = off) so their own jitter stays far
# below the interruptions measured; our session's autogroup gets nice NICE (default -10) for
# the run (restored on exit), the same for mobiked and charon.
PROBE_RT=${PROBE_RT:-20}
NICE=${NICE:--10}
AG_OLD=
restore_autogroup() { [ -n "$AG_OLD" ] && echo "$AG_OLD" >/proc/$$/autogroup 2>/dev/null; return 0; }
if [ "$NICE" != 0 ] && [ -w /proc/$$/autogroup ]; then
    AG_OLD=$(awk '{print $NF}' /proc/$$/autogroup)
    echo "$NICE" >/proc/$$/autogroup 2>/dev/null && NS_EXIT_HOOK=restore_autogroup || AG_OLD=
fi
RT=()
[ "$PROBE_RT" != 0 ] && command -v chrt >/dev/null 2>&1 && RT=(chrt -f "$PROBE_RT")

# ------------------------------------------------------------------ helpers
ADDR=([1]=192.0.2.1 [2]=198.51.100.1)      # mover's address on link N
GW=([1]=192.0.2.2 [2]=198.51.100.2)        # responder's address on link N
DEV=([1]=va1 [2]=va2)
RDEV=([1]=vb1 [2]=vb2)
RIKE=203.0.113.2
M_IN=10.1.0.1
R_IN=10.2.0.1

now_ns() { local t=$EPOCHREALTIME; t=${t//[.,]/}; printf '%s000' "$t"; }
# ev LABEL INFO CMD... — run CMD, append "LABEL before_ns after_ns INFO" to the case's events
ev() {
    local label=$1 info=$2; shift 2
    local t0 t1 rc
    t0=$EPOCHREALTIME
    "$@"; rc=$?
    t1=$EPOCHREALTIME
    printf '%s %s000 %s000 %s\n' "$label" "${t0//[.,]/}" "${t1//[.,]/}" "$info" >>"$EVENTS"
    return $rc
}
meta() { printf '%s=%s\n' "$1" "$2" >>"$OUT/$CASE.meta"; }

# topo — fresh namespaces M and R for case $CASE; link 1 and 2 addressed; routes with
# metrics 10 (link 1) and 20 (link 2), unless NO_LINK2_ADDR=1 (mbb starts with link 1 only)
topo() {
    M=$(ns_add "${CASE:0:4}m") && R=$(ns_add "${CASE:0:4}r") || fail "namespaces"
    ns_link "$M" "$R" "${ADDR[1]}/24" "${GW[1]}/24" "" "" va1 vb1 || fail "link 1"
    ns_link "$M" "$R" "" "${GW[2]}/24" "" "" va2 vb2 || fail "link 2"
    ns_lo_addr "$R" "$RIKE/32" && ns_lo_addr "$R" "$R_IN/32" && ns_lo_addr "$M" "$M_IN/32" || fail "lo addresses"
    ip -n "$M" route add "$RIKE/32" via "${GW[1]}" dev va1 metric 10 || fail "route 1"
    METRIC=20
    if [ "${NO_LINK2_ADDR:-0}" != 1 ]; then
        ns_addr "$M" va2 "${ADDR[2]}/24" || fail "address 2"
        ip -n "$M" route add "$RIKE/32" via "${GW[2]}" dev va2 metric 20 || fail "route 2"
    fi
    CUR=1
}
# add_link_addr N METRIC — (re-)add the mover's address on link N and its route to r's IKE
# address (removing the address removed the route)
add_link_addr() {
    ip -n "$M" addr add "${ADDR[$1]}/24" dev "${DEV[$1]}" &&
        ip -n "$M" route replace "$RIKE/32" via "${GW[$1]}" dev "${DEV[$1]}" metric "$2"
}
del_link_addr() { ip -n "$M" addr del "${ADDR[$1]}/24" dev "${DEV[$1]}"; }

# mobiked config: write_mk WHO LOCAL_ADDRS REMOTE LID RID LTS RTS MOBIKE EXTRA
write_mk() {
    cat >"$W/$CASE-$1.conf" <<CONF
daemon = {
  control_socket = "$W/$CASE-$1.sock";
  tun = "mk$1";
  log = { default = "debug"; dp = "info"; };
};
connections = {
  c = {
    local_addrs = [$2];
    remote_addrs = ["$3"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    mobike = $8;
$9
    local = { auth = "psk"; id = "$4"; };
    remote = { auth = "psk"; id = "$5"; };
    children = { net = { local_ts = ["$6"]; remote_ts = ["$7"]; esp_proposals = ["aes128gcm16"]; ${10:-} }; };
  };
};
secrets = { p = { ids = ["$4", "$5"]; secret = "0x$PSK"; }; };
CONF
    cp "$W/$CASE-$1.conf" "$OUT/$CASE-$1.conf"
}
ctl() { local who=$1; shift; timeout 10 "$BIN/mobikectl" --socket "$W/$CASE-$who.sock" "$@"; }
# sa_field WHO PY_EXPR — PY_EXPR over s = the first IKE SA of list-sas --json ({} if none)
sa_field() {
    ctl "$1" --json list-sas 2>/dev/null | python3 -c "
import json, sys
try: l = json.load(sys.stdin)['ike_sas']
except Exception: l = []
s = l[0] if l else {}
print($2)"
}
# sa_link WHO — which link the mover's (first) IKE SA uses now: 1, 2 or ?
sa_link() {
    # the newest ESTABLISHED IKE SA (after a terminate the old one lingers as DELETING)
    case $(ctl m --json list-sas 2>/dev/null | python3 -c "
import json, sys
try: l = json.load(sys.stdin)['ike_sas']
except Exception: l = []
l = [s for s in l if s.get('state') == 'ESTABLISHED']
print(max(l, key=lambda s: s.get('id', 0)).get('local', '') if l else '')") in
        "${ADDR[1]}":*) echo 1 ;;
        "${ADDR[2]}":*) echo 2 ;;
        *) echo '?' ;;
    esac
}
MK_LOGS=()
# start_mk EXTRA_M MOBIKE — both mobiked daemons, mover initiates; SA up over link 1
start_mk() {
    local extra=$1 mob=$2
    if [ "$CASE" = transport ]; then
        write_mk m "" "$RIKE" m.example r.example dynamic dynamic "$mob" "$extra    mobike_versions = [1, 2];" 'mode = "transport";'
        write_mk r "\"$RIKE\"" "%any" r.example m.example dynamic dynamic "$mob" "    mobike_versions = [1, 2];" 'mode = "transport";'
    else
        write_mk m "" "$RIKE" m.example r.example 10.1.0.0/16 10.2.0.0/16 "$mob" "$extra"
        write_mk r "\"$RIKE\"" "%any" r.example m.example 10.2.0.0/16 10.1.0.0/16 "$mob" ""
    fi
    MK_LOGS=("$W/$CASE-m.log" "$W/$CASE-r.log")
    ns_spawn "$M" "$W/$CASE-m.log" "$BIN/mobiked" --config "$W/$CASE-m.conf" --foreground
    ns_spawn "$R" "$W/$CASE-r.log" "$BIN/mobiked" --config "$W/$CASE-r.conf" --foreground
    wait_for "[ -S $W/$CASE-m.sock ] && [ -S $W/$CASE-r.sock ]" 10 0.1 || fail "$CASE: daemons did not start" "${MK_LOGS[@]}"
    ctl m initiate --conn c --timeout 10 >"$W/$CASE-initiate.out" 2>&1 || fail "$CASE: initiate" "$W/$CASE-initiate.out" "${MK_LOGS[@]}"
    log_info "$CASE: IKE SA up: $(sa_field m "s.get('local'), s.get('remote'), 'mobike', s.get('mobike')")"
}
save_mk_logs() {
    ctl m --json list-sas >"$OUT/$CASE-m.list-sas.json" 2>/dev/null
    ctl r --json list-sas >"$OUT/$CASE-r.list-sas.json" 2>/dev/null
    cp "$W/$CASE-m.log" "$OUT/$CASE-m.log" 2>/dev/null
    cp "$W/$CASE-r.log" "$OUT/$CASE-r.log" 2>/dev/null
}

# probe_start / probe_stop — the case's probe, 10.1.0.1 -> 10.2.0.1 every PROBE_MS
PROBE_PORT=$((30000 + RANDOM % 10000))
probe_start() {
    local maxs=$1 count
    count=$(awk -v s="$maxs" -v i="$PROBE_MS" 'BEGIN { printf "%d", s * 1000 / i }')
    EVENTS=$OUT/$CASE.events; : >"$EVENTS"
    PROBE_PORT=$((PROBE_PORT + 1))
    # transport mode: host to host, the source whatever the route gives now
    local dst=$R_IN src=(--src "$M_IN")
    [ "$CASE" = transport ] && { dst=$RIKE; src=(); }
    # shellcheck disable=SC2153
    ip netns exec "$M" ping -c 2 -i 0.2 -W 2 "$dst" >/dev/null 2>&1 || log_warn "$CASE: warm-up ping failed"
    rm -f "$OUT/$CASE.summary.ready"
    ns_spawn "$R" "$OUT/$CASE.recv.log" "${RT[@]}" python3 "$LIB/udp_probe.py" recv --bind "$dst" --port "$PROBE_PORT" \
        --duration "$((maxs + 5))" --out "$OUT/$CASE.summary" --trace "$OUT/$CASE.trace" --ready "$OUT/$CASE.summary.ready"
    RPID=$NS_LAST_PID
    wait_for "[ -e '$OUT/$CASE.summary.ready' ] || ! kill -0 $RPID" 5 0.05 && [ -e "$OUT/$CASE.summary.ready" ] \
        || fail "$CASE: probe receiver did not start" "$OUT/$CASE.recv.log"
    rm -f "$OUT/$CASE.summary.ready"
    ns_spawn "$M" "$OUT/$CASE.send" "${RT[@]}" python3 "$LIB/udp_probe.py" send "${src[@]}" --dst "$dst" \
        --port "$PROBE_PORT" --count "$count" --interval-ms "$PROBE_MS"
    SPID=$NS_LAST_PID
    sleep 1
}
probe_stop() {
    sleep 0.5
    kill_pid "$SPID" 3
    kill_pid "$RPID" 3
    wait_for "[ -s '$OUT/$CASE.summary' ]" 5 0.05 || log_warn "$CASE: no probe summary"
    log_info "$CASE: probe: $(cat "$OUT/$CASE.send" 2>/dev/null) / $(tr '\n' ' ' <"$OUT/$CASE.summary" 2>/dev/null | cut -c1-200)"
}
end_case() {
    # stop everything of this case by PID and delete its namespaces (the EXIT trap does the
    # same for whatever is left if we never get here)
    local p
    for p in "$@"; do kill_pid "$p" 3; done
    ns_del "$M"; ns_del "$R"
    log_info "$CASE: took $(( ($(date +%s%N) - CASE_T0) / 1000000 )) ms"
}

# wait_link WANT TIMEOUT — until the mover's SA is on link WANT
wait_link() { wait_for "[ \"\$(sa_link)\" = $1 ]" "$2" 0.1; }

# ------------------------------------------------------------------ case: mobike / reestablish
# address-loss moves with mobiked; $1 = mobike|reestablish
run_mk_moves() {
    CASE=$1; CASE_T0=$(date +%s%N)
    local mob=true n=$MOVES settle=0.4 mode=mobike
    [ "$CASE" = reestablish ] && { mob=false; settle=1.0; mode=$REESTABLISH; }
    log_step "case $CASE: $n moves (address removed), mobiked <-> mobiked, mobike = $mob"
    topo
    start_mk "" "$mob"
    local i old new moved=0 unmoved=0
    meta kind gap; meta impl mobiked; meta mobike "$mob"
    probe_start $((n * 4 + 20))

    if [ "$CASE" = reestablish ] && [ "$mode" = detect ]; then
        # one uncounted move: does the daemon re-establish by itself?
        old=$CUR; new=$((3 - CUR))
        ev warmup "remove ${ADDR[$old]} (detect)" del_link_addr "$old"
        if wait_for "[ \"\$(sa_link)\" = $new ]" 2 0.1; then
            mode=auto
        else
            mode=manual
            ctl m terminate --conn c >/dev/null 2>&1
            ctl m initiate --conn c --timeout 5 >/dev/null 2>&1 || log_warn "$CASE: initiate after detect failed"
        fi
        CUR=$new
        METRIC=$((METRIC + 10)); add_link_addr "$old" "$METRIC" || log_warn "re-add failed"
        log_info "$CASE: the daemon $([ $mode = auto ] && echo re-establishes by itself || echo does not re-establish by itself: the bench runs mobikectl terminate + initiate)"
        sleep 1
    fi
    [ "$CASE" = reestablish ] && meta reestablish "$mode"

    for ((i = 1; i <= n; i++)); do
        old=$CUR; new=$((3 - CUR))
        if [ "$mode" = manual ]; then
            ev move "remove ${ADDR[$old]}" del_link_addr "$old"
            ev reinit "mobikectl terminate + initiate" \
                eval "ctl m terminate --conn c >/dev/null 2>&1; ctl m initiate --conn c --timeout 5 >'$W/reinit.out' 2>&1" \
                || log_warn "$CASE: move $i: initiate failed: $(tail -1 "$W/reinit.out")"
        else
            ev move "remove ${ADDR[$old]}" del_link_addr "$old"
        fi
        sleep "$settle"
        METRIC=$((METRIC + 10))
        ev readd "re-add ${ADDR[$old]} metric $METRIC" add_link_addr "$old" "$METRIC" || log_warn "$CASE: re-add failed"
        sleep 0.15
        if wait_link "$new" 3; then
            moved=$((moved + 1))
        else
            unmoved=$((unmoved + 1))
            log_warn "$CASE: move $i: SA not on link $new: $(sa_field m "s.get('local'), s.get('state')")"
            [ "$unmoved" -ge 3 ] && { log_err "$CASE: 3 moves failed, stopping this case"; break; }
        fi
        CUR=$new
        sleep 0.15
    done
    meta moves_confirmed "$moved"; meta moves_failed "$unmoved"
    probe_stop
    log_info "$CASE: $moved moves confirmed, $unmoved not; IKE SAs on m: $(sa_field m "len(l)")"
    save_mk_logs
    end_case
}

# ------------------------------------------------------------------ case: strongswan
run_strongswan() {
    CASE=strongswan; CASE_T0=$(date +%s%N)
    local n=$SS_MOVES i old new moved=0 unmoved=0
    log_step "case $CASE: $n moves, strongSwan 5.9.8 (kernel-libipsec) <-> strongSwan"
    topo
    local di=$W/ss-m dr=$W/ss-r lv="default = 1, ike = 1, knl = 1, net = 1, cfg = 1, chd = 1"
    ss_conf "$di" role=initiator remote_addrs="$RIKE" local_id=m.example remote_id=r.example psk="$SS_PSK" \
        local_ts=10.1.0.0/16 remote_ts=10.2.0.0/16 mobike=yes loglevels="$lv" || fail "ss_conf m"
    ss_conf "$dr" role=responder local_addrs="$RIKE" local_id=r.example remote_id=m.example psk="$SS_PSK" \
        local_ts=10.2.0.0/16 remote_ts=10.1.0.0/16 mobike=yes loglevels="$lv" || fail "ss_conf r"
    ss_start "$di" "$M" 10 && ss_start "$dr" "$R" 10 || fail "$CASE: charon did not start" "$di/charon.out" "$dr/charon.out"
    ss_load "$di" >"$di/load.out" 2>&1 && ss_load "$dr" >"$dr/load.out" 2>&1 || fail "$CASE: swanctl --load-all" "$di/load.out" "$dr/load.out"
    ss_initiate "$di" "" 10 >"$di/initiate.out" 2>&1 || fail "$CASE: initiate" "$di/initiate.out" "$di/charon.log"
    sleep 0.3
    log_info "$CASE: IKE_SA up: local-host $(ss_sa_get "$di" ike0.local-host)"
    meta kind gap; meta impl strongswan
    probe_start $((n * 4 + 20))
    ss_link() {
        case $(ss_sa_get "$di" ike0.local-host) in
            "${ADDR[1]}") echo 1 ;; "${ADDR[2]}") echo 2 ;; *) echo '?' ;;
        esac
    }
    for ((i = 1; i <= n; i++)); do
        old=$CUR; new=$((3 - CUR))
        ev move "remove ${ADDR[$old]}" del_link_addr "$old"
        sleep 0.7
        METRIC=$((METRIC + 10))
        ev readd "re-add ${ADDR[$old]} metric $METRIC" add_link_addr "$old" "$METRIC" || log_warn "$CASE: re-add failed"
        sleep 0.15
        if wait_for "[ \"\$(ss_link)\" = $new ] && [ \"\$(ss_child_state '$di')\" = INSTALLED ]" 3 0.1; then
            moved=$((moved + 1))
        else
            unmoved=$((unmoved + 1))
            log_warn "$CASE: move $i: IKE_SA not on link $new: $(ss_sa_get "$di" ike0.local-host) $(ss_child_state "$di")"
            [ "$unmoved" -ge 3 ] && { log_err "$CASE: 3 moves failed, stopping this case"; break; }
        fi
        CUR=$new
        sleep 0.3   # the CHILD_SA rekey libipsec does after each move settles
    done
    meta moves_confirmed "$moved"; meta moves_failed "$unmoved"
    probe_stop
    cp "$di/charon.log" "$OUT/strongswan-m.charon.log" 2>/dev/null
    cp "$dr/charon.log" "$OUT/strongswan-r.charon.log" 2>/dev/null
    ss_stop "$di"; ss_stop "$dr"
    end_case
}

# ------------------------------------------------------------------ case: make-before-break
run_mbb() {
    CASE=mbb; CASE_T0=$(date +%s%N)
    local n=$MBB_REPS i old new moved=0 unmoved=0 metric=100
    log_step "case $CASE: $n make-before-break moves (mobiked)"
    NO_LINK2_ADDR=1 topo
    # link 1 only, its route at a metric we can undercut each time
    ip -n "$M" route replace "$RIKE/32" via "${GW[1]}" dev va1 metric "$metric"
    ip -n "$M" route del "$RIKE/32" via "${GW[1]}" dev va1 metric 10 2>/dev/null
    start_mk "" true
    meta kind mbb; meta impl mobiked; meta order "$MBB_ORDER"
    probe_start $((n * 3 + 20))
    for ((i = 1; i <= n; i++)); do
        old=$CUR; new=$((3 - CUR)); metric=$((metric - 1))
        if [ "$MBB_ORDER" = route-first ]; then
            ev make "route via link $new metric $metric (preferred, onlink), then add ${ADDR[$new]}" \
                eval "ip -n $M route replace $RIKE/32 via ${GW[$new]} dev ${DEV[$new]} metric $metric onlink && ip -n $M addr add ${ADDR[$new]}/24 dev ${DEV[$new]}" \
                || log_warn "$CASE: add failed"
        else
            ev make "add ${ADDR[$new]}, then route via link $new metric $metric (preferred)" add_link_addr "$new" "$metric" || log_warn "$CASE: add failed"
        fi
        if wait_link "$new" 2; then moved=$((moved + 1)); else unmoved=$((unmoved + 1)); log_warn "$CASE: rep $i: no move before break"; fi
        sleep 0.3
        ev break "remove ${ADDR[$old]}" del_link_addr "$old"
        sleep 0.6
        CUR=$new
        if [ "$(sa_link)" != "$new" ]; then
            log_warn "$CASE: rep $i: SA not on link $new after the break"
            wait_link "$new" 3 || { unmoved=$((unmoved + 1)); [ "$unmoved" -ge 3 ] && break; }
        fi
    done
    meta moves_confirmed "$moved"; meta moves_failed "$unmoved"
    probe_stop
    save_mk_logs
    end_case
}

# ------------------------------------------------------------------ case: silent cut
CUT_RULES=
cut_link() {  # cut_link N — r drops every packet in and out of its link-N interface
    printf 'table inet mkbench {\n  chain in { type filter hook input priority -10; iifname "%s" drop; }\n  chain out { type filter hook output priority -10; oifname "%s" drop; }\n}\n' \
        "${RDEV[$1]}" "${RDEV[$1]}" | ip netns exec "$R" nft -f -
}
uncut() { ip netns exec "$R" nft delete table inet mkbench 2>/dev/null; return 0; }
run_silent() {
    CASE=silent; CASE_T0=$(date +%s%N)
    local n=$CUT_REPS i cur new recovered=0 unrec=0 extra='' supported=0
    log_step "case $CASE: $n silent link cuts (nftables drop in r), mobiked"
    topo
    # does this mobiked know path_timeout?
    write_mk m "" "$RIKE" m.example r.example 10.1.0.0/16 10.2.0.0/16 true "    path_timeout = $PATH_TIMEOUT;"
    if "$BIN/mobiked" --check-config "$W/$CASE-m.conf" >"$W/check.out" 2>&1; then
        supported=1; extra="    path_timeout = $PATH_TIMEOUT;"
        log_info "$CASE: mover configured with path_timeout = $PATH_TIMEOUT"
    else
        log_warn "$CASE: this mobiked does not accept path_timeout ($(head -1 "$W/check.out")): running without it"
        [ "$n" -gt 2 ] && n=2
    fi
    meta kind cut; meta impl mobiked; meta path_timeout_supported "$supported"; meta path_timeout "$PATH_TIMEOUT"
    start_mk "$extra" true
    probe_start $((n * 5 + 20))
    for ((i = 1; i <= n; i++)); do
        cur=$(sa_link)
        [ "$cur" = '?' ] && { log_warn "$CASE: no SA path before cut $i: $(sa_field m "s")"; unrec=$((unrec + 1)); break; }
        new=$((3 - cur))
        ev cut "drop all on link $cur" cut_link "$cur" || log_warn "$CASE: nft failed"
        if wait_for "[ \"\$(sa_link)\" = $new ]" 3 0.05; then recovered=$((recovered + 1))
        else unrec=$((unrec + 1)); log_warn "$CASE: cut $i: the SA did not leave link $cur within 3 s"; fi
        sleep 0.5
        ev uncut "restore link $cur" uncut
        sleep 0.8
        [ "$unrec" -ge 2 ] && { log_warn "$CASE: 2 cuts not recovered, stopping this case"; break; }
    done
    meta cuts_recovered "$recovered"; meta cuts_unrecovered "$unrec"
    probe_stop
    save_mk_logs
    end_case
}

# ------------------------------------------------------------------ run
log_info "mobiked: $BIN/mobiked ($(cd "$ROOT" && git log -1 --format='%h %s' 2>/dev/null | cut -c1-60)); out: $OUT"
log_info "moves: mobike/reestablish $MOVES, strongswan $SS_MOVES, make-before-break $MBB_REPS, silent cuts $CUT_REPS; probe every $PROBE_MS ms"
for c in $CASES; do
    case $c in
        mobike|reestablish|transport) run_mk_moves "$c" ;;
        strongswan) run_strongswan ;;
        mbb) run_mbb ;;
        silent) run_silent ;;
        *) log_warn "unknown case $c" ;;
    esac
done
log_info "all cases took $(( ($(date +%s%N) - T_START) / 1000000 )) ms"
python3 "$HERE/analyze.py" --out "$OUT" --probe-ms "$PROBE_MS" --plot "$HERE/plot.gp" $CASES
