#!/usr/bin/env bash
# MOBIKEv2 system test (draft-mglt-ipsecme-mobikev2, the DNS / real-time use
# case): two mobiked hosts with a transport-mode SA between their own
# addresses (dynamic selectors) carry a UDP stream with sequence numbers. a
# has two links to b (whose address 203.0.113.2 sits on its loopback); a
# moves to its link-2 address (mobikectl move). Checks: MOBIKE version 2
# negotiated; the stream, sent from whatever source the route gives, goes on
# from the new address with few losses; both ends' transport selectors name
# the new address (list-sas --json); SPIs unchanged; b answers to it.
# Prints "N passed, N failed" last. Needs root and a build (MOBIKED_BIN).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${MOBIKED_BIN:-build/release}
source tests/lib/netns.sh
netns_time_limit 60 "$0" "$@"
netns_init

source tests/lib/results.sh

A=$(ns_add a)
B=$(ns_add b)
ns_two_uplinks "$A" "$B" || { failed "topology"; finish; }
D=$(tmp_dir conf)
psk=$(openssl rand -hex 24)

# write_conf WHO LOCAL_ADDRS REMOTE_ADDRS LID RID
write_conf() {
    cat >"$D/$1.conf" <<CONF
daemon = {
  control_socket = "$D/$1.sock";
  tun = "mv$1";
  log = { default = "info"; };
};
connections = {
  c = {
    local_addrs = [$2];
    remote_addrs = [$3];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    mobike = true;
    mobike_versions = [1, 2];
    local = { auth = "psk"; id = "$4"; };
    remote = { auth = "psk"; id = "$5"; };
    children = { host = { mode = "transport"; local_ts = ["dynamic"]; remote_ts = ["dynamic"];
                          esp_proposals = ["aes128gcm16"]; }; };
  };
};
secrets = { p = { ids = ["$4", "$5"]; secret = "0x$psk"; }; };
CONF
}
write_conf a '"192.0.2.1", "198.51.100.1"' '"203.0.113.2"' a.example b.example
write_conf b '"203.0.113.2"' '' b.example a.example

ctl() { local who=$1; shift; "$BIN/mobikectl" --socket "$D/$who.sock" "$@"; }
sa_field() {
    ctl "$1" --json list-sas | python3 -c "import json,sys; s=json.load(sys.stdin)['ike_sas']; s=s[0] if s else {}; print($2)"
}

LOGS=("$D/a.log" "$D/b.log")
ns_spawn "$A" "$D/a.log" "$BIN/mobiked" --config "$D/a.conf" --foreground
ns_spawn "$B" "$D/b.log" "$BIN/mobiked" --config "$D/b.conf" --foreground
wait_for "[ -S $D/a.sock ] && [ -S $D/b.sock ]" 10 0.1 || { failed "daemons did not start"; dump_logs "${LOGS[@]}"; finish; }
if ! ctl a initiate --conn c --timeout 10 >/dev/null; then failed "initiate"; dump_logs "${LOGS[@]}"; finish; fi
ID=$(sa_field a "s['id']")
SPIS=$(sa_field a "s['children'][0]['spi_in'], s['children'][0]['spi_out']")
got=$(sa_field a "s['mobike_version'], s['children'][0]['mode'], s['children'][0]['local_ts']")
log_info "IKE SA $ID: version, mode, local_ts = $got; SPIs $SPIS"
if [ "$(sa_field a "s['mobike_version']")" = 2 ] && [ "$(sa_field b "s['mobike_version']")" = 2 ]; then
    pass "MOBIKE version 2 negotiated on both ends"
else failed "MOBIKE version: a $(sa_field a "s.get('mobike_version')"), b $(sa_field b "s.get('mobike_version')")"; fi
if ctl a list-sas | grep -q "MOBIKE v2"; then pass "list-sas shows 'MOBIKE v2'"; else failed "list-sas: $(ctl a list-sas | head -6)"; fi
ip netns exec "$A" ping -c 2 -i 0.2 -W 2 203.0.113.2 >/dev/null 2>&1 || log_warn "warm-up ping failed"

# The stream: 800 datagrams every 5 ms a -> b, no source bound (the route's
# source follows the SA); the move after 1 s.
port=$((30000 + RANDOM % 10000))
out=$D/probe.txt
probe_recv "$B" 203.0.113.2 "$port" 10 "$out" 800 || { failed "probe receiver"; finish; }
rpid=$NS_LAST_PID
ip netns exec "$A" python3 tests/lib/udp_probe.py send --dst 203.0.113.2 --port "$port" --count 800 \
    --interval-ms 5 >"$out.send" 2>&1 &
spid=$!; track_pid "$spid"
sleep 1
log_info "moving a to 198.51.100.1"
ctl a move --ike-id "$ID" --local 198.51.100.1 >/dev/null || failed "mobikectl move"
wait "$spid" 2>/dev/null
sleep 0.3
LOST=$(probe_result "$out" lost "$rpid")
GAP=$(probe_result "$out" max_gap_ms)
log_info "a->b: $(tr '\n' ' ' <"$out") / $(cat "$out.send")"
if [ -n "$LOST" ] && [ "$LOST" -le 20 ]; then pass "stream continued across the move: $LOST of 800 lost, longest gap ${GAP} ms"
else failed "stream: lost '$LOST' of 800 (gap $GAP ms)"; dump_logs "${LOGS[@]}"; fi

if wait_for "[ \"\$(sa_field a \"s['children'][0]['local_ts']\")\" = \"['198.51.100.1/32']\" ]" 5 0.05; then
    pass "a's transport selectors moved: $(sa_field a "s['children'][0]['local_ts'], s['children'][0]['remote_ts']")"
else failed "a's selectors: $(sa_field a "s['children'][0]['local_ts']")"; fi
if wait_for "[ \"\$(sa_field b \"s['children'][0]['remote_ts']\")\" = \"['198.51.100.1/32']\" ]" 5 0.05; then
    pass "b's transport selectors moved: $(sa_field b "s['children'][0]['local_ts'], s['children'][0]['remote_ts']"), remote $(sa_field b "s['remote']")"
else failed "b's selectors: $(sa_field b "s['children'][0]['remote_ts']")"; fi
if [ "$(sa_field a "s['children'][0]['spi_in'], s['children'][0]['spi_out']")" = "$SPIS" ]; then
    pass "same CHILD_SA (SPIs $SPIS)"
else failed "SPIs changed: $(sa_field a "s['children'][0]['spi_in'], s['children'][0]['spi_out']")"; fi
pin=$(sa_field b "s['children'][0].get('packets_in', 0)")
if [ "${pin:-0}" -ge 800 ]; then pass "the stream went through the SA ($pin packets in at b)"
else failed "only '$pin' packets counted on b's SA"; fi
# b answers to the new address through the SA.
if ip netns exec "$B" ping -c 3 -i 0.2 -W 2 198.51.100.1 >/dev/null 2>&1; then pass "b reaches a's new address through the SA"
else failed "b -> 198.51.100.1 ping"; dump_logs "${LOGS[@]}"; fi
finish
