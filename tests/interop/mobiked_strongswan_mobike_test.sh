#!/bin/bash
# tests/interop/mobiked_strongswan_mobike_test.sh — MOBIKE between mobiked and strongSwan 5.9.8
# (kernel-libipsec), each in its own namespace on one veth (initiator side 192.0.2.1,
# responder 192.0.2.2; inner 198.51.100.1 / 198.51.100.65 on lo). In each scenario the
# initiator's namespace gets 192.0.2.11 and loses 192.0.2.1 (make-before-break, as in
# strongswan_pair_test.sh scenario 4) while a UDP probe every 5 ms runs each way through the
# tunnel:
#   si  strongSwan initiates and moves (its kernel-netlink roam), mobiked responds: mobiked's
#       IKE SA follows (remote 192.0.2.11, a "peer" entry in its move history), strongSwan's
#       CHILD_SA rekey right after the move (libipsec cannot update SAs) succeeds, traffic
#       continues, same IKE SA.
#   mi  mobiked initiates and moves (address monitor -> path manager -> UPDATE_SA_ADDRESSES),
#       strongSwan responds: strongSwan's IKE SA follows, same IKE SPIs, traffic continues.
# Must run as root. Prints "N passed, N failed" last. Environment: MOBIKED_BIN (default
# build/release), KEEP=1 keeps the work dir, SCENARIOS="si mi", TIME_LIMIT (default 85).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIB=$HERE/../lib
# shellcheck source=../lib/netns.sh
. "$LIB/netns.sh"
netns_time_limit "${TIME_LIMIT:-85}" "$0" "$@"
# shellcheck source=../lib/strongswan.sh
. "$LIB/strongswan.sh"

# shellcheck source=../lib/mobiked_checks.sh
. "$LIB/mobiked_checks.sh"
mk_checks_init
RESULTS=()
eq() { [ "$1" = "$2" ] || { log_err "  got '$1', want '$2'"; return 1; }; }

PSK=mobiked-interop-psk-0123456789abcdef

# mk_conf MD ROLE LOCAL_ID REMOTE_ID LOCAL_TS REMOTE_TS — the initiator (the mover) has no
# local_addrs: its address comes from the route and follows the address monitor.
mk_conf() {
    local md=$1 role=$2 lid=$3 rid=$4 lts=$5 rts=$6 laddr='' raddr=192.0.2.2
    [ "$role" = responder ] && { laddr='"192.0.2.2"'; raddr=%any; }
    mkdir -p "$md"
    cat >"$md/mobiked.conf" <<EOC
daemon = { control_socket = "$md/control.sock"; tun = "mobiked0"; log = { default = "info"; }; };
connections = {
  s2s = {
    local_addrs = [$laddr]; remote_addrs = ["$raddr"];
    proposals = ["aes128gcm16-prfsha256-x25519"]; mobike = true;
    local = { auth = "psk"; id = "$lid"; }; remote = { auth = "psk"; id = "$rid"; };
    children = { net = { local_ts = ["$lts"]; remote_ts = ["$rts"]; esp_proposals = ["aes128gcm16"]; }; };
  };
};
secrets = { psk-1 = { ids = ["$lid", "$rid"]; secret = "$PSK"; }; };
EOC
}
mk_ctl() { local md=$1; shift; ip netns exec "$(cat "$md/ns")" "$BIN/mobikectl" --socket "$md/control.sock" "$@"; }
mk_start() {
    local md=$1 ns=$2
    printf '%s\n' "$ns" >"$md/ns"
    ns_spawn "$ns" "$md/mobiked.log" "$BIN/mobiked" --config "$md/mobiked.conf" --foreground
    printf '%s\n' "$NS_LAST_PID" >"$md/pid"
    wait_for "kill -0 $NS_LAST_PID && [ -S '$md/control.sock' ] && mk_ctl '$md' status" 10 0.1
}
# mk_sa MD PY_EXPR — PY_EXPR over s = the first IKE SA of list-sas --json
mk_sa() {
    mk_ctl "$1" --json list-sas | python3 -c "
import json, sys
l = json.load(sys.stdin)['ike_sas']
s = l[0] if l else {}
c = s['children'][0] if s.get('children') else {}
print($2)"
}

ping_ok() {
    local out; out=$(ip netns exec "$1" ping -c 3 -i 0.2 -W 2 -I "$2" "$3" 2>&1)
    log_info "  $(grep -E 'received' <<<"$out")"
    grep -q ' 0% packet loss' <<<"$out"
}

# run NAME — MK_ROLE from the name: si = strongSwan initiates/moves, mi = mobiked does
run() {
    CUR=$1
    local t0; t0=$(date +%s%N)
    local ni nr
    ni=$(ns_add "${CUR}i") && nr=$(ns_add "${CUR}r") || { failc "namespaces"; return; }
    ns_link "$ni" "$nr" 192.0.2.1/24 192.0.2.2/24 "" "" eth0 eth0 || { failc "veth"; return; }
    ns_lo_addr "$ni" 198.51.100.1/32 && ns_lo_addr "$nr" 198.51.100.65/32 || { failc "inner addresses"; return; }
    local tsi=198.51.100.0/26 tsr=198.51.100.64/26
    local md=$NS_WORKDIR/$CUR-mobiked ss=$NS_WORKDIR/$CUR-strongswan mk_ns ss_ns mk_in ss_in
    if [ "$CUR" = mi ]; then
        log_step "scenario mi: mobiked initiates and moves, strongSwan responds"
        mk_ns=$ni; ss_ns=$nr; mk_in=198.51.100.1; ss_in=198.51.100.65
        mk_conf "$md" initiator initiator responder "$tsi" "$tsr"
        ss_conf "$ss" role=responder psk="$PSK" local_id=responder remote_id=initiator local_ts="$tsr" remote_ts="$tsi" || { failc "ss_conf"; return; }
    else
        log_step "scenario si: strongSwan initiates and moves, mobiked responds"
        mk_ns=$nr; ss_ns=$ni; mk_in=198.51.100.65; ss_in=198.51.100.1
        mk_conf "$md" responder responder initiator "$tsr" "$tsi"
        ss_conf "$ss" role=initiator psk="$PSK" remote_addrs=192.0.2.2 local_id=initiator remote_id=responder \
            local_ts="$tsi" remote_ts="$tsr" || { failc "ss_conf"; return; }
    fi
    LOGS=("$md/mobiked.log" "$ss/charon.log")
    check "start strongSwan" ss_start "$ss" "$ss_ns" 10 || return
    check "load strongSwan config" to_file "$ss/load.out" ss_load "$ss" || return
    check "start mobiked" mk_start "$md" "$mk_ns" || return
    if [ "$CUR" = mi ]; then
        check "mobiked initiates" to_file "$md/initiate.out" mk_ctl "$md" initiate --conn s2s --timeout 10 || return
    else
        check "strongSwan initiates" to_file "$ss/initiate.out" ss_initiate "$ss" net 10 || return
    fi
    check "strongSwan CHILD_SA INSTALLED" wait_for "[ \"\$(ss_child_state '$ss')\" = INSTALLED ]" 5 0.1 || return
    check "MOBIKE negotiated (mobiked)" eq "$(mk_sa "$md" "s.get('mobike')")" True || return
    sleep 0.2  # libipsec's routes into ipsec0 follow the SA installation
    check "ping before the move" ping_ok "$ni" 198.51.100.1 198.51.100.65
    local ike0 mkike0 spi0 id0
    ike0=$(ss_ike_spis "$ss"); mkike0=$(mk_sa "$md" "s['spi_i'], s['spi_r']"); spi0=$(mk_sa "$md" "c.get('spi_in')")
    id0=$(mk_sa "$md" "s['id']")
    log_info "  before: mobiked $(mk_sa "$md" "s['local'], s['remote']"), strongSwan local-host $(ss_sa_get "$ss" ike0.local-host)"

    # probes each way: initiator side -> responder side (f), and back (r)
    local out=$NS_WORKDIR/$CUR.probe port=$((30000 + RANDOM % 10000)) rpid rrpid spid rspid
    probe_recv "$nr" 198.51.100.65 "$port" 10 "$out.f" 600 && rpid=$NS_LAST_PID || { failc "probe receiver"; return; }
    probe_recv "$ni" 198.51.100.1 "$port" 10 "$out.r" 600 && rrpid=$NS_LAST_PID || { failc "probe receiver"; return; }
    probe_send "$ni" 198.51.100.1 198.51.100.65 "$port" 600 5 >"$out.f.send" 2>&1 &
    spid=$!; track_pid "$spid"
    probe_send "$nr" 198.51.100.65 198.51.100.1 "$port" 600 5 >"$out.r.send" 2>&1 &
    rspid=$!; track_pid "$rspid"
    sleep 0.8
    log_info "  moving the initiator 192.0.2.1 -> 192.0.2.11 (add, then delete the old address)"
    ns_addr "$ni" eth0 192.0.2.11/24 && ns_addr_del "$ni" eth0 192.0.2.1/24
    if [ "$CUR" = mi ]; then
        check "mobiked moved its IKE SA to 192.0.2.11:4500" \
            wait_for "[ \"\$(mk_sa '$md' \"s['local']\")\" = 192.0.2.11:4500 ]" 5 0.05
        check "mobiked's move confirmed (COOKIE2 echoed)" \
            wait_for "[ \"\$(mk_sa '$md' \"s['moves'][-1]['state'] if s.get('moves') else ''\")\" = done ]" 5 0.05
        log_info "  mobiked move: $(mk_sa "$md" "s['moves'][-1]")"
        check "strongSwan follows (remote-host 192.0.2.11)" \
            wait_for "[ \"\$(ss_sa_get '$ss' ike0.remote-host)\" = 192.0.2.11 ]" 5 0.05
    else
        check "strongSwan moved its IKE_SA to 192.0.2.11" \
            wait_for "[ \"\$(ss_sa_get '$ss' ike0.local-host)\" = 192.0.2.11 ]" 5 0.05
        check "mobiked follows (remote 192.0.2.11:4500)" \
            wait_for "[ \"\$(mk_sa '$md' \"s['remote']\")\" = 192.0.2.11:4500 ]" 5 0.05
        check "mobiked's history shows the peer's move" \
            wait_for "[ \"\$(mk_sa '$md' \"(s['moves'][-1]['origin'], s['moves'][-1]['to_remote']) if s.get('moves') else ''\")\" = \"('peer', '192.0.2.11:4500')\" ]" 3 0.05
    fi
    # strongSwan (libipsec) rekeys its CHILD_SAs after a move it makes; either way the
    # current CHILD_SA must be installed on both ends with mirrored SPIs.
    check "CHILD_SA installed on both ends after the move, SPIs mirrored" \
        wait_for "[ \"\$(ss_child_state '$ss')\" = INSTALLED ] && [ \"\$(ss_child_spis '$ss')\" = \"\$(mk_sa '$md' \"c.get('spi_out'), c.get('spi_in')\" | tr -d \"(),'\")\" ]" 5 0.1
    local spi1; spi1=$(mk_sa "$md" "c.get('spi_in')")
    if [ "$CUR" = si ]; then
        check "strongSwan's CHILD_SA rekey after the move succeeded (mobiked SPI $spi0 -> $spi1)" \
            test -n "$spi1" -a "$spi1" != "$spi0"
    else
        log_info "  CHILD_SA SPI on mobiked: $spi0 -> $spi1"
    fi
    wait "$spid" "$rspid" 2>/dev/null
    sleep 0.3
    local lf gf lr gr
    lf=$(probe_result "$out.f" lost "$rpid"); gf=$(probe_result "$out.f" max_gap_ms)
    lr=$(probe_result "$out.r" lost "$rrpid"); gr=$(probe_result "$out.r" max_gap_ms)
    log_info "  probe initiator->responder: $(tr '\n' ' ' <"$out.f")"
    log_info "  probe responder->initiator: $(tr '\n' ' ' <"$out.r")"
    RESULTS+=("$CUR: initiator->responder lost ${lf:-?}/600 (max gap ${gf:-?} ms), responder->initiator lost ${lr:-?}/600 (max gap ${gr:-?} ms)")
    # strongSwan reacts ~100 ms after an address change (roam delay); allow up to 1 s
    check "probe outage bounded (lost $lf and $lr of 600 at 5 ms)" \
        eval '[ -n "$lf" ] && [ "$lf" -lt 200 ] && [ -n "$lr" ] && [ "$lr" -lt 200 ]'
    check "traffic flows after the move (last probe datagrams arrived)" \
        eval '[ "$(probe_result "$out.f" last_seq)" = 599 ] && [ "$(probe_result "$out.r" last_seq)" = 599 ]'
    check "ping after the move" ping_ok "$ni" 198.51.100.1 198.51.100.65
    check "same IKE SA: strongSwan SPIs unchanged, one IKE SA" eq "$(ss_ike_spis "$ss") $(ss_ike_count "$ss")" "$ike0 1"
    check "same IKE SA on mobiked (id, SPIs), no new one" \
        eq "$(mk_sa "$md" "s['id'], s['spi_i'], s['spi_r']") $(mk_ctl "$md" --json list-sas | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["ike_sas"]))')" \
        "$id0 $mkike0 1"
    log_info "  mobiked list-sas:"; mk_ctl "$md" list-sas 2>&1 | sed 's/^/      /' >&2
    kill_pid "$(cat "$md/pid")" 3; ss_stop "$ss"
    ns_del "$ni"; ns_del "$nr"
    log_info "scenario $CUR took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

for s in ${SCENARIOS:-si mi}; do
    case $s in
        si|mi) run "$s" ;;
        *) CUR=$s; failc "unknown scenario" ;;
    esac
done
for r in "${RESULTS[@]}"; do log_info "interruption $r"; done
SUMMARY_DONE=1
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
