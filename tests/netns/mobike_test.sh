#!/usr/bin/env bash
# MOBIKE system test, mobiked <-> mobiked: the initiator (a) has two links to
# the responder (b), whose IKE address 203.0.113.2 sits on its loopback and is
# routed over link 1 (metric 10) and link 2 (metric 20). A UDP probe every
# 5 ms runs between the inner addresses 10.1.0.1 -> 10.2.0.1 through the SA.
#   a. break: a's link-1 address is removed while link 2 has one; the address
#      monitor sees it, the path manager moves the IKE SA (UPDATE_SA_ADDRESSES
#      from the link-2 address), the probe continues
#   b. make-before-break: a second address is added on link 2 (nothing moves),
#      then the first one removed (the second is promoted) -> the SA moves to it
#   c. explicit: `mobikectl move --ike-id N --local ADDR` (back to link 1)
#   d. link 1 goes down (its address stays): the SA moves to link 2 again
#   e. link 1 up and its route back: the route event alone moves the SA to it
#   f. link 1 silently drops everything: path liveness (path_timeout 300 ms)
#      fails the SA over to link 2
# Each case: lost probes and the longest gap, the SA's move history
# (list-sas --json), SPIs and IKE SA unchanged, b's view of the path.
# Prints "N passed, N failed" last. Needs root and a build (MOBIKED_BIN,
# default build/release).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${MOBIKED_BIN:-build/release}
source tests/lib/netns.sh
netns_time_limit 85 "$0" "$@"
netns_init

source tests/lib/results.sh

A=$(ns_add a)
B=$(ns_add b)
ns_two_uplinks "$A" "$B" || { failed "topology"; finish; }
ns_lo_addr "$A" 10.1.0.1/32
ns_lo_addr "$B" 10.2.0.1/32
D=$(tmp_dir conf)
psk=$(openssl rand -hex 24)

# write_conf WHO LOCAL_ADDRS REMOTE LID RID LTS RTS
write_conf() {
    cat >"$D/$1.conf" <<CONF
daemon = {
  control_socket = "$D/$1.sock";
  tun = "mk$1";
  log = { default = "${MK_LOG_LEVEL:-info}"; };
};
connections = {
  c = {
    local_addrs = [$2];
    remote_addrs = ["$3"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    mobike = true;
    ${8:-}
    local = { auth = "psk"; id = "$4"; };
    remote = { auth = "psk"; id = "$5"; };
    children = { net = { local_ts = ["$6"]; remote_ts = ["$7"]; esp_proposals = ["aes128gcm16"]; }; };
  };
};
secrets = { p = { ids = ["$4", "$5"]; secret = "0x$psk"; }; };
CONF
}
# a watches its path (RFC 4555 §3.11): 300 ms without anything from b = failed.
write_conf a "" 203.0.113.2 a.example b.example 10.1.0.0/16 10.2.0.0/16 "path_timeout = 0.3;"
write_conf b '"203.0.113.2"' "%any" b.example a.example 10.2.0.0/16 10.1.0.0/16

ctl() { local who=$1; shift; "$BIN/mobikectl" --socket "$D/$who.sock" "$@"; }
# sa_field WHO PY_EXPR — evaluate PY_EXPR with s = the first IKE SA of list-sas --json
sa_field() {
    ctl "$1" --json list-sas | python3 -c "import json,sys; s=json.load(sys.stdin)['ike_sas']; s=s[0] if s else {}; print($2)"
}
ike_count() { ctl "$1" --json list-sas | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["ike_sas"]))'; }

LOGS=("$D/a.log" "$D/b.log")
ns_spawn "$A" "$D/a.log" "$BIN/mobiked" --config "$D/a.conf" --foreground
ns_spawn "$B" "$D/b.log" "$BIN/mobiked" --config "$D/b.conf" --foreground
wait_for "[ -S $D/a.sock ] && [ -S $D/b.sock ]" 10 0.1 || { failed "daemons did not start"; dump_logs "${LOGS[@]}"; finish; }
if ! ctl a initiate --conn c --timeout 10 >/dev/null; then
    failed "initiate"; dump_logs "${LOGS[@]}"; finish
fi
ID=$(sa_field a "s['id']")
SPIS=$(sa_field a "s['spi_i'], s['spi_r'], s['children'][0]['spi_in'], s['children'][0]['spi_out']")
log_info "IKE SA $ID established: $(sa_field a "s['local'], s['remote'], s['mobike']") SPIs $SPIS"
if [ "$(sa_field a "s['local']")" = "192.0.2.1:4500" ] && [ "$(sa_field a "s['mobike']")" = True ]; then
    pass "SA up over link 1 with MOBIKE (192.0.2.1:4500)"
else failed "SA not as expected: $(sa_field a "s['local'], s['mobike']")"; dump_logs "${LOGS[@]}"; finish; fi
ip netns exec "$A" ping -c 2 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1 || log_warn "warm-up ping failed"

# probe_around WHAT ACTION — 600 probes at 5 ms (3 s) each way (a -> b and
# b -> a through the SA); ACTION runs after 1 s. Sets LOST/GAP (a -> b) and
# RLOST/RGAP (b -> a: b re-points its ESP only after its own COOKIE2 check).
probe_around() {
    local what=$1 action=$2 out=$D/probe-${1// /_}.txt port=$((30000 + RANDOM % 10000)) rpid spid rrpid rspid
    probe_recv "$B" 10.2.0.1 "$port" 8 "$out" 600 || { failed "$what: probe receiver"; return 1; }
    rpid=$NS_LAST_PID
    probe_recv "$A" 10.1.0.1 "$port" 8 "$out.rev" 600 || { failed "$what: probe receiver"; return 1; }
    rrpid=$NS_LAST_PID
    probe_send "$A" 10.1.0.1 10.2.0.1 "$port" 600 5 >"$out.send" 2>&1 &
    spid=$!; track_pid "$spid"
    probe_send "$B" 10.2.0.1 10.1.0.1 "$port" 600 5 >"$out.rev.send" 2>&1 &
    rspid=$!; track_pid "$rspid"
    sleep 1
    log_info "$what: $action"
    eval "$action"
    wait "$spid" "$rspid" 2>/dev/null
    sleep 0.3
    LOST=$(probe_result "$out" lost "$rpid")
    GAP=$(probe_result "$out" max_gap_ms)
    RLOST=$(probe_result "$out.rev" lost "$rrpid")
    RGAP=$(probe_result "$out.rev" max_gap_ms)
    log_info "$what: a->b $(tr '\n' ' ' <"$out") / $(cat "$out.send")"
    log_info "$what: b->a $(tr '\n' ' ' <"$out.rev") / $(cat "$out.rev.send")"
}

# check_moved WHAT WANT_LOCAL WANT_ORIGIN
check_moved() {
    local what=$1 want=$2 origin=$3
    if ! wait_for "[ \"\$(sa_field a \"s['moves'][-1]['state'] if s.get('moves') else ''\")\" = done ]" 5 0.05; then
        failed "$what: no confirmed move: $(sa_field a "s.get('moves')")"; dump_logs "${LOGS[@]}"; return
    fi
    local m; m=$(sa_field a "s['moves'][-1]['origin'], s['moves'][-1]['to_local'], s['moves'][-1]['took_ms'], s['moves'][-1]['reason']")
    log_info "$what: last move $m"
    if [ "$(sa_field a "s['local']")" = "$want:4500" ] && [[ "$m" == "$origin $want:4500 "* ]]; then
        pass "$what: IKE SA moved to $want:4500 ($origin), confirmed after $(sa_field a "s['moves'][-1]['took_ms']") ms"
    else failed "$what: a's SA at $(sa_field a "s['local']"), last move $m"; fi
    if wait_for "[ \"\$(sa_field b \"s['remote']\")\" = '$want:4500' ]" 3 0.05; then
        pass "$what: b follows: remote $want:4500, b's history: $(sa_field b "[(m['origin'], m['to_remote']) for m in s['moves']][-1]")"
    else failed "$what: b still sees $(sa_field b "s['remote']")"; fi
    local now; now=$(sa_field a "s['spi_i'], s['spi_r'], s['children'][0]['spi_in'], s['children'][0]['spi_out']")
    if [ "$now" = "$SPIS" ] && [ "$(ike_count a)" = 1 ] && [ "$(ike_count b)" = 1 ] && [ "$(sa_field a "s['id']")" = "$ID" ]; then
        pass "$what: same IKE SA and SPIs ($now), no new IKE SA"
    else failed "$what: SPIs $SPIS -> $now, IKE SAs a $(ike_count a) b $(ike_count b)"; fi
}

# ------------------------------------------------------------- a. break
WHAT="break (address removed)"
log_step "$WHAT"
probe_around "$WHAT" "ns_addr_del $A va1 192.0.2.1/24"
check_moved "$WHAT" 198.51.100.1 address-change
RESULT_A="a->b lost $LOST of 600 probes (longest gap $GAP ms), b->a lost $RLOST (longest gap $RGAP ms)"
if [ "${LOST:-999}" -le 40 ] && [ "${RLOST:-999}" -le 40 ]; then pass "$WHAT: probe continued, $RESULT_A"
else failed "$WHAT: $RESULT_A"; fi

# ------------------------------------------------------------- b. make-before-break
WHAT="make-before-break"
log_step "$WHAT"
ns_addr "$A" va2 198.51.100.11/24
sleep 0.5
if [ "$(sa_field a "s['local']")" = "198.51.100.1:4500" ] && [ "$(sa_field a "len(s['moves'])")" = 1 ]; then
    pass "$WHAT: new address 198.51.100.11 alone moves nothing"
else failed "$WHAT: SA moved on a new address: $(sa_field a "s['local'], len(s['moves'])")"; fi
probe_around "$WHAT" "ns_addr_del $A va2 198.51.100.1/24"
check_moved "$WHAT" 198.51.100.11 address-change
RESULT_B="a->b lost $LOST of 600 probes (longest gap $GAP ms), b->a lost $RLOST (longest gap $RGAP ms)"
if [ "${LOST:-999}" -le 40 ] && [ "${RLOST:-999}" -le 40 ]; then pass "$WHAT: probe continued, $RESULT_B"
else failed "$WHAT: $RESULT_B"; fi

# ------------------------------------------------------------- c. explicit
WHAT="mobikectl move"
log_step "$WHAT"
ns_addr "$A" va1 192.0.2.1/24
sleep 0.3
probe_around "$WHAT" "ctl a move --ike-id $ID --local 192.0.2.1 >&2"
check_moved "$WHAT" 192.0.2.1 explicit
RESULT_C="a->b lost $LOST of 600 probes (longest gap $GAP ms), b->a lost $RLOST (longest gap $RGAP ms)"
if [ "${LOST:-999}" -le 10 ] && [ "${RLOST:-999}" -le 10 ]; then pass "$WHAT: probe continued, $RESULT_C"
else failed "$WHAT: $RESULT_C"; fi
if ctl a move --ike-id $ID --local 203.0.113.99 >/dev/null 2>&1; then failed "$WHAT: move to a foreign address accepted"
else pass "$WHAT: move to an address we do not have is refused"; fi

# ------------------------------------------------------------- d. link down
WHAT="link down"
log_step "$WHAT"
probe_around "$WHAT" "ns_link_set $A va1 down"
check_moved "$WHAT" 198.51.100.11 address-change
RESULT_D="a->b lost $LOST of 600 probes (longest gap $GAP ms), b->a lost $RLOST (longest gap $RGAP ms)"
if [ "${LOST:-999}" -le 40 ] && [ "${RLOST:-999}" -le 40 ]; then pass "$WHAT: probe continued, $RESULT_D"
else failed "$WHAT: $RESULT_D"; fi

# ------------------------------------------------------------- e. route change
# Link 1 is back and its route preferred again: a route event alone (no
# address changed) moves the SA back to the preferred path.
WHAT="route preference"
log_step "$WHAT"
ns_link_set "$A" va1 up
sleep 0.5
probe_around "$WHAT" "ip -n $A route add 203.0.113.2/32 via 192.0.2.2 dev va1 metric 10"
check_moved "$WHAT" 192.0.2.1 address-change
RESULT_E="a->b lost $LOST of 600 probes (longest gap $GAP ms), b->a lost $RLOST (longest gap $RGAP ms)"
if [ "${LOST:-999}" -le 10 ] && [ "${RLOST:-999}" -le 10 ]; then pass "$WHAT: probe continued, $RESULT_E"
else failed "$WHAT: $RESULT_E"; fi

# ------------------------------------------------------------- f. silent cut
# Link 1 stops carrying anything (b drops all on vb1), with no address, link
# or route event: a's liveness check declares the path failed after 300 ms,
# probes the other address pairs and fails over to link 2's address (the one
# that answers), pinned to va2 since the route still points into the dead link.
WHAT="silent cut"
log_step "$WHAT"
silent_cut() {
    printf 'table inet mkcut {\n chain in { type filter hook input priority -10; iifname "vb1" drop; }\n chain out { type filter hook output priority -10; oifname "vb1" drop; }\n}\n' \
        | ip netns exec "$B" nft -f -
}
probe_around "$WHAT" "silent_cut"
check_moved "$WHAT" 198.51.100.11 path-failure
RESULT_F="a->b lost $LOST of 600 probes (longest gap $GAP ms), b->a lost $RLOST (longest gap $RGAP ms)"
# 300 ms of silence at most, plus the failover exchange: <= 80 probes of 5 ms.
if [ "${LOST:-999}" -le 80 ] && [ "${RLOST:-999}" -le 80 ]; then pass "$WHAT: probe recovered, $RESULT_F"
else failed "$WHAT: $RESULT_F"; fi
grep -q "silent for" "$D/a.log" && pass "$WHAT: a logged the path failure" || failed "$WHAT: no path failure in a's log"
# RFC 4555 §3.5: the candidate pairs were probed (NAT_DETECTION_*) before the update.
grep -q "probe answered on 198.51.100.11" "$D/a.log" && pass "$WHAT: the new pair answered a probe before the update" \
    || failed "$WHAT: no probe answered in a's log ($(grep -c probing "$D/a.log") probing lines)"
ip netns exec "$B" nft delete table inet mkcut 2>/dev/null

ctl a list-sas >"$D/list-sas.txt" 2>&1
log_info "mobikectl list-sas on a:"; sed 's/^/    /' "$D/list-sas.txt" >&2
grep -q "moves: 6" "$D/list-sas.txt" && pass "list-sas shows the 6 moves" || failed "list-sas: $(grep -A1 moves "$D/list-sas.txt")"

log_info "interruption: break: $RESULT_A"
log_info "interruption: make-before-break: $RESULT_B"
log_info "interruption: explicit: $RESULT_C"
log_info "interruption: link down: $RESULT_D"
log_info "interruption: route preference: $RESULT_E"
log_info "interruption: silent cut: $RESULT_F"
finish
