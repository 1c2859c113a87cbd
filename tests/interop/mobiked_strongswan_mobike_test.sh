#!/bin/bash
# tests/interop/mobiked_strongswan_mobike_test.sh — MOBIKE between mobiked and strongSwan 5.9.8
# (kernel-libipsec), each in its own namespace on one veth (initiator side 192.0.2.1,
# responder 192.0.2.2; inner 198.51.100.1 / 198.51.100.65 on lo). In each scenario one end
# changes its address make-before-break (the new one added first, the old one deleted; the
# initiator 192.0.2.1 -> 192.0.2.11, the responder 192.0.2.2 -> 192.0.2.12) while a UDP probe
# every 5 ms runs each way through the tunnel. Scenario names: first letter who initiates
# and moves (s = strongSwan, m = mobiked), second letter the mover's role (i/r):
#   si  strongSwan initiates and moves (its kernel-netlink roam), mobiked responds: mobiked's
#       IKE SA follows (remote 192.0.2.11, a "peer" entry in its move history), strongSwan's
#       CHILD_SA rekey right after the move (libipsec cannot update SAs) succeeds, traffic
#       continues, same IKE SA.
#   mi  mobiked initiates and moves (address monitor -> path manager -> UPDATE_SA_ADDRESSES),
#       strongSwan responds: strongSwan's IKE SA follows, same IKE SPIs, traffic continues.
#   sr  mobiked initiates, strongSwan (responder) moves: strongSwan announces the added
#       address (ADDITIONAL_IP4_ADDRESS), then, its old address gone, its new list from the new
#       address; mobiked records it (peer_addresses) and its path manager moves the SA there
#       with UPDATE_SA_ADDRESSES (move origin "peer-addresses").
#   mr  strongSwan initiates, mobiked (responder, no local_addrs) moves: mobiked announces the
#       added address, then its new list (NO_ADDITIONAL_ADDRESSES) from the new address;
#       strongSwan (original initiator) takes the announcement's source as the peer's new
#       address (no UPDATE_SA_ADDRESSES) and rekeys its CHILD_SA (libipsec).
# All: same IKE SPIs on both ends, mirrored CHILD_SA SPIs, probe loss bounded, the last
# probes arrive, and a delete from the initiator side leaves no IKE SA on either end.
# Must run as root. Prints "N passed, N failed" last. Environment: MOBIKED_BIN (default
# build/release), KEEP=1 keeps the work dir, SCENARIOS="si mi sr mr", TIME_LIMIT (default 140).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIB=$HERE/../lib
# shellcheck source=../lib/netns.sh
. "$LIB/netns.sh"
netns_time_limit "${TIME_LIMIT:-140}" "$0" "$@"
# shellcheck source=../lib/strongswan.sh
. "$LIB/strongswan.sh"

# shellcheck source=../lib/mobiked_checks.sh
. "$LIB/mobiked_checks.sh"
mk_checks_init
RESULTS=()
eq() { [ "$1" = "$2" ] || { log_err "  got '$1', want '$2'"; return 1; }; }

PSK=mobiked-interop-psk-0123456789abcdef

# mk_conf MD ROLE LOCAL_ID REMOTE_ID LOCAL_TS REMOTE_TS [PIN [LOG]] — the initiator has no
# local_addrs (its address comes from the route and follows the address monitor); the
# responder is pinned to 192.0.2.2 unless PIN=no (a moving responder). LOG: mobiked's level.
mk_conf() {
    local md=$1 role=$2 lid=$3 rid=$4 lts=$5 rts=$6 pin=${7:-yes} level=${8:-info} laddr='' raddr=192.0.2.2
    if [ "$role" = responder ]; then
        raddr=%any
        [ "$pin" = yes ] && laddr='"192.0.2.2"'
    fi
    mkdir -p "$md"
    cat >"$md/mobiked.conf" <<EOC
daemon = { control_socket = "$md/control.sock"; tun = "mobiked0"; log = { default = "$level"; }; };
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

# mk_logged MD REGEX — mobiked's log has a line matching REGEX (grep -E)
mk_logged() { grep -qE "$2" "$1/mobiked.log"; }
# ss_logged SS REGEX — strongSwan's charon.log has a line matching REGEX
ss_logged() { grep -qE "$2" "$(ss_log "$1")"; }
# ss_received_from SS SRC REGEX — charon.log: a packet from SRC[4500] whose parsed line
# (the next line of the same thread) matches REGEX
ss_received_from() {
    awk -v src="received packet: from $2[4500]" -v re="$3" '
        { i = index($2, "["); th = substr($2, 1, i - 1); tag = substr($2, i) }
        index($0, src) { want[th] = 1; next }
        (th in want) && tag == "[ENC]" { if ($0 ~ re) { found = 1; exit } delete want[th] }
        END { exit !found }' "$(ss_log "$1")"
}
# mk_peers MD — mobiked's recorded peer address list, space separated
mk_peers() { mk_sa "$1" "' '.join(s.get('peer_addresses', []))"; }

# run NAME — si/mr: strongSwan initiates (mobiked responds); mi/sr: mobiked initiates.
# The mover: si/mi the initiator's namespace, sr/mr the responder's.
run() {
    CUR=$1
    local t0; t0=$(date +%s%N)
    local ni nr
    ni=$(ns_add "${CUR}i") && nr=$(ns_add "${CUR}r") || { failc "namespaces"; return; }
    ns_link "$ni" "$nr" 192.0.2.1/24 192.0.2.2/24 "" "" eth0 eth0 || { failc "veth"; return; }
    ns_lo_addr "$ni" 198.51.100.1/32 && ns_lo_addr "$nr" 198.51.100.65/32 || { failc "inner addresses"; return; }
    local tsi=198.51.100.0/26 tsr=198.51.100.64/26
    local md=$NS_WORKDIR/$CUR-mobiked ss=$NS_WORKDIR/$CUR-strongswan mk_ns ss_ns
    local mover old new mk_init=no
    case $CUR in
        mi|sr) mk_init=yes ;;
    esac
    case $CUR in
        si|mi) mover=$ni old=192.0.2.1 new=192.0.2.11 ;;
        *) mover=$nr old=192.0.2.2 new=192.0.2.12 ;;
    esac
    case $CUR in
        mi) log_step "scenario mi: mobiked initiates and moves, strongSwan responds" ;;
        si) log_step "scenario si: strongSwan initiates and moves, mobiked responds" ;;
        sr) log_step "scenario sr: mobiked initiates, strongSwan (responder) moves" ;;
        mr) log_step "scenario mr: strongSwan initiates, mobiked (responder) moves" ;;
    esac
    if [ "$mk_init" = yes ]; then
        mk_ns=$ni; ss_ns=$nr
        # sr: debug log (the announcements it receives, the update it sends)
        mk_conf "$md" initiator initiator responder "$tsi" "$tsr" yes "$([ "$CUR" = sr ] && echo debug || echo info)"
        ss_conf "$ss" role=responder psk="$PSK" local_id=responder remote_id=initiator local_ts="$tsr" remote_ts="$tsi" || { failc "ss_conf"; return; }
    else
        mk_ns=$nr; ss_ns=$ni
        # mr: mobiked (responder) not pinned to 192.0.2.2, so it may use and announce 192.0.2.12
        if [ "$CUR" = mr ]; then
            mk_conf "$md" responder responder initiator "$tsr" "$tsi" no debug
        else
            mk_conf "$md" responder responder initiator "$tsr" "$tsi"
        fi
        ss_conf "$ss" role=initiator psk="$PSK" remote_addrs=192.0.2.2 local_id=initiator remote_id=responder \
            local_ts="$tsi" remote_ts="$tsr" || { failc "ss_conf"; return; }
    fi
    LOGS=("$md/mobiked.log" "$ss/charon.log")
    check "start strongSwan" ss_start "$ss" "$ss_ns" 10 || return
    check "load strongSwan config" to_file "$ss/load.out" ss_load "$ss" || return
    check "start mobiked" mk_start "$md" "$mk_ns" || return
    if [ "$mk_init" = yes ]; then
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
    log_info "  before: mobiked $(mk_sa "$md" "s['local'], s['remote'], s.get('peer_addresses')"), strongSwan local-host $(ss_sa_get "$ss" ike0.local-host)"

    # probes each way: initiator side -> responder side (f), and back (r)
    local out=$NS_WORKDIR/$CUR.probe port=$((30000 + RANDOM % 10000)) rpid rrpid spid rspid
    probe_recv "$nr" 198.51.100.65 "$port" 10 "$out.f" 600 && rpid=$NS_LAST_PID || { failc "probe receiver"; return; }
    probe_recv "$ni" 198.51.100.1 "$port" 10 "$out.r" 600 && rrpid=$NS_LAST_PID || { failc "probe receiver"; return; }
    probe_send "$ni" 198.51.100.1 198.51.100.65 "$port" 600 5 >"$out.f.send" 2>&1 &
    spid=$!; track_pid "$spid"
    probe_send "$nr" 198.51.100.65 198.51.100.1 "$port" 600 5 >"$out.r.send" 2>&1 &
    rspid=$!; track_pid "$rspid"
    sleep 0.8
    case $CUR in
    si|mi)
        log_info "  moving the initiator $old -> $new (add, then delete the old address)"
        ns_addr "$mover" eth0 "$new/24" && ns_addr_del "$mover" eth0 "$old/24"
        ;;
    sr)
        log_info "  moving the responder (strongSwan) $old -> $new: add $new"
        ns_addr "$mover" eth0 "$new/24"
        # strongSwan's roam (~100 ms later): "sending address list update using MOBIKE",
        # an INFORMATIONAL with N(ADD_4_ADDR) from the current path
        check "strongSwan announces the added address; mobiked records [$old $new]" \
            wait_for "[ \"\$(mk_peers '$md')\" = '$old $new' ]" 3 0.05
        check "mobiked stays on $old meanwhile (announcements are no update)" \
            eq "$(mk_sa "$md" "s['remote']")" "$old:4500"
        log_info "  deleting $old"
        ns_addr_del "$mover" eth0 "$old/24"
        ;;
    mr)
        log_info "  moving the responder (mobiked) $old -> $new: add $new"
        ns_addr "$mover" eth0 "$new/24"
        # only the new uplink: not the inner 198.51.100.65 on lo (inside mobiked's own selectors)
        check "mobiked announces the added address (INFORMATIONAL [ N(ADD_4_ADDR) ])" \
            wait_for "mk_logged '$md' 'sending INFORMATIONAL request [0-9]+ \\[ N\\(ADD_4_ADDR\\) \\]'" 3 0.05
        check "strongSwan records it (additional MOBIKE peer address $new)" \
            wait_for "ss_logged '$ss' 'got additional MOBIKE peer address: $new\$'" 3 0.05
        log_info "  deleting $old"
        ns_addr_del "$mover" eth0 "$old/24"
        ;;
    esac
    case $CUR in
    mi)
        check "mobiked moved its IKE SA to $new:4500" \
            wait_for "[ \"\$(mk_sa '$md' \"s['local']\")\" = $new:4500 ]" 5 0.05
        check "mobiked's move confirmed (COOKIE2 echoed)" \
            wait_for "[ \"\$(mk_sa '$md' \"s['moves'][-1]['state'] if s.get('moves') else ''\")\" = done ]" 5 0.05
        log_info "  mobiked move: $(mk_sa "$md" "s['moves'][-1]")"
        check "strongSwan follows (remote-host $new)" \
            wait_for "[ \"\$(ss_sa_get '$ss' ike0.remote-host)\" = $new ]" 5 0.05
        ;;
    si)
        check "strongSwan moved its IKE_SA to $new" \
            wait_for "[ \"\$(ss_sa_get '$ss' ike0.local-host)\" = $new ]" 5 0.05
        check "mobiked follows (remote $new:4500)" \
            wait_for "[ \"\$(mk_sa '$md' \"s['remote']\")\" = $new:4500 ]" 5 0.05
        check "mobiked's history shows the peer's move" \
            wait_for "[ \"\$(mk_sa '$md' \"(s['moves'][-1]['origin'], s['moves'][-1]['to_remote']) if s.get('moves') else ''\")\" = \"('peer', '$new:4500')\" ]" 3 0.05
        ;;
    sr)
        check "strongSwan's new list: only $new (from $new, N(NO_ADD_ADDR))" \
            wait_for "[ \"\$(mk_peers '$md')\" = '$new' ]" 5 0.05
        check "mobiked moved its IKE SA to remote $new:4500" \
            wait_for "[ \"\$(mk_sa '$md' \"s['remote']\")\" = $new:4500 ]" 5 0.05
        check "mobiked's move (origin peer-addresses) confirmed" \
            wait_for "[ \"\$(mk_sa '$md' \"(s['moves'][-1]['origin'], s['moves'][-1]['state'], s['moves'][-1]['to_remote']) if s.get('moves') else ''\")\" = \"('peer-addresses', 'done', '$new:4500')\" ]" 5 0.05
        log_info "  mobiked move: $(mk_sa "$md" "s['moves'][-1]")"
        check "mobiked sent UPDATE_SA_ADDRESSES" mk_logged "$md" 'sending INFORMATIONAL request [0-9]+ .*N\(UPD_SA_ADDR\)'
        check "strongSwan's IKE_SA on $new" \
            wait_for "[ \"\$(ss_sa_get '$ss' ike0.local-host)\" = $new ]" 5 0.05
        ;;
    mr)
        check "mobiked's IKE SA now on its new address ($new:4500)" \
            wait_for "[ \"\$(mk_sa '$md' \"s['local']\")\" = $new:4500 ]" 5 0.05
        check "mobiked announces its new list (INFORMATIONAL [ N(NO_ADD_ADDR) ])" \
            wait_for "mk_logged '$md' 'sending INFORMATIONAL request [0-9]+ \\[ N\\(NO_ADD_ADDR\\) \\]'" 5 0.05
        check "strongSwan got it from $new" \
            wait_for "ss_received_from '$ss' $new 'parsed INFORMATIONAL request [0-9]+ \\[ N\\(NO_ADD_ADDR\\) \\]'" 5 0.05
        # strongSwan 5.9.8 as original initiator takes the source of the responder's
        # address update as the peer's new address (ike_mobike process_r): no
        # UPDATE_SA_ADDRESSES, no COOKIE2 check; then libipsec rekeys the CHILD_SA.
        check "strongSwan (original initiator) follows: remote-host $new" \
            wait_for "[ \"\$(ss_sa_get '$ss' ike0.remote-host)\" = $new ]" 5 0.05
        ss_logged "$ss" "remote endpoint changed from $old\\[4500\\] to $new\\[4500\\]" &&
            log_info "  strongSwan: remote endpoint changed from $old[4500] to $new[4500]"
        if mk_logged "$md" 'received INFORMATIONAL request [0-9]+ .*N\(UPD_SA_ADDR\)'; then
            log_info "  strongSwan sent UPDATE_SA_ADDRESSES"
        else
            log_info "  strongSwan sent no UPDATE_SA_ADDRESSES (it follows the announcement's source)"
        fi
        ;;
    esac
    # strongSwan (libipsec) rekeys its CHILD_SAs after a move it makes or follows; either way
    # the current CHILD_SA must be installed on both ends with mirrored SPIs.
    check "CHILD_SA installed on both ends after the move, SPIs mirrored" \
        wait_for "[ \"\$(ss_child_state '$ss')\" = INSTALLED ] && [ \"\$(ss_child_spis '$ss')\" = \"\$(mk_sa '$md' \"c.get('spi_out'), c.get('spi_in')\" | tr -d \"(),'\")\" ]" 5 0.1
    local spi1; spi1=$(mk_sa "$md" "c.get('spi_in')")
    if [ "$CUR" != mi ]; then
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
    # MOBIKEv2 (mobike_versions [1, 2] by default) against RFC 4555 only: version 1
    # (strongSwan sends an empty MOBIKE_SUPPORTED, or ignores our Version parameter).
    check "MOBIKE version 1 negotiated with strongSwan (we offer 1 and 2)" eq "$(mk_sa "$md" "s.get('mobike_version')")" 1
    check "same IKE SA on mobiked (id, SPIs), no new one" \
        eq "$(mk_sa "$md" "s['id'], s['spi_i'], s['spi_r']") $(mk_ctl "$md" --json list-sas | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["ike_sas"]))')" \
        "$id0 $mkike0 1"
    log_info "  mobiked list-sas:"; mk_ctl "$md" list-sas 2>&1 | sed 's/^/      /' >&2
    # the moved SA is deleted cleanly from its new path: nothing left on either end
    if [ "$mk_init" = yes ]; then
        to_file "$md/terminate.out" mk_ctl "$md" terminate --conn s2s
    else
        to_file "$ss/terminate.out" ss_terminate_ike "$ss" s2s 5
    fi
    check "nothing left after the delete (no IKE SA on either end)" \
        wait_for "[ \"\$(ss_ike_count '$ss')\" = 0 ] && [ \"\$(mk_sa '$md' 'len(l)')\" = 0 ]" 5 0.1
    kill_pid "$(cat "$md/pid")" 3; ss_stop "$ss"
    ns_del "$ni"; ns_del "$nr"
    log_info "scenario $CUR took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

for s in ${SCENARIOS:-si mi sr mr}; do
    case $s in
        si|mi|sr|mr) run "$s" ;;
        *) CUR=$s; failc "unknown scenario" ;;
    esac
done
for r in "${RESULTS[@]}"; do log_info "interruption $r"; done
SUMMARY_DONE=1
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
