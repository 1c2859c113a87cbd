#!/usr/bin/env bash
# RFC 4301 §5.2 enforcement outside the TUN and path MTU (RFC 4301 §8), two mobiked peers
# in network namespaces whose main tables route the inner prefixes over the veth in clear
# (the leak path the daemon's nftables table must close):
#   1. table inet mobiked_<tun> present while the daemon runs, gone after it stops
#   2. PROTECT flow, SA down: pings 10.1.0.1 -> 10.2.0.1 get no answer, nothing in clear on
#      the wire (capture on the veth), counted by the protect-out rule; cleartext arriving
#      at A for the flow (sent by B with the daemon's fwmark, which B's table lets through)
#      is dropped and counted by protect-in
#   3. DISCARD (daemon discard = ["10.9.0.0/16"]): pings to 10.9.0.1 dropped, not on the
#      wire, counted (discard-out)
#   4. SA up: pings answered, only ESP on the wire between the peers
#   5. Path MTU with a trap policy (routes into the TUN carry the device MTU, 1500):
#      `ping -M do -s 1472` gets "Frag needed" with mtu 1438 (AES-GCM in UDP over IPv4),
#      IPv6 `ping -M do -s 1452` gets "Packet too big" with mtu 1438, drop_path_mtu counted;
#      a 1400-byte ping still passes
# Prints "N passed, N failed". Needs root, nft, dumpcap/tshark and a build (MOBIKED_BIN).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${MOBIKED_BIN:-build/release}
source tests/lib/netns.sh
netns_time_limit 120 "$0" "$@"
netns_init

PASSED=0
FAILED=0
FAILURES=()
pass() { PASSED=$((PASSED + 1)); log_info "PASS: $*"; }
failed() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); log_err "FAIL: $*"; }
for tool in nft dumpcap tshark ping; do command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }; done

A=$(ns_add a)
B=$(ns_add b)
ns_link "$A" "$B" 192.0.2.1/24 192.0.2.2/24 "" "" va vb
ns_lo_addr "$A" 10.1.0.1/32
ns_lo_addr "$B" 10.2.0.1/32
ns_lo_addr "$B" 10.9.0.1/32
ns_lo_addr "$A" fd00:1::1/128
ns_lo_addr "$B" fd00:2::1/128
ns_addr "$A" va 2001:db8:1::1/64
ns_addr "$B" vb 2001:db8:1::2/64
# the leak path: inner prefixes reachable in clear through the main tables
ip -n "$A" route add 10.2.0.0/16 via 192.0.2.2
ip -n "$A" route add 10.9.0.0/16 via 192.0.2.2
ip -n "$B" route add 10.1.0.0/16 via 192.0.2.1
ip -n "$A" -6 route add fd00:2::/64 via 2001:db8:1::2
ip -n "$B" -6 route add fd00:1::/64 via 2001:db8:1::1
D=$(tmp_dir conf)
psk=$(openssl rand -hex 24)

# write_conf FILE WHO LOCAL REMOTE LID RID LTS RTS START
write_conf() {
    cat >"$1" <<CONF
daemon = {
  control_socket = "$D/$2.sock";
  tun = "mk$2";
  log = { default = "info"; };
  discard = ["10.9.0.0/16"];
  df_bit = "copy";
};
connections = {
  c = {
    local_addrs = ["$3"];
    remote_addrs = ["$4"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    encap = true;
    local = { auth = "psk"; id = "$5"; };
    remote = { auth = "psk"; id = "$6"; };
    children = { net = { local_ts = $7; remote_ts = $8; esp_proposals = ["aes128gcm16"]; start_action = "$9"; }; };
  };
};
secrets = { p = { ids = ["$5", "$6"]; secret = "0x$psk"; }; };
CONF
}

PID_A= PID_B=
stop_daemons() { kill_pid "$PID_A" 5; kill_pid "$PID_B" 5; PID_A= PID_B=; }
start_pair() {  # NAME START_A
    write_conf "$D/a.conf" a 192.0.2.1 192.0.2.2 a.example b.example '["10.1.0.0/16", "fd00:1::/64"]' '["10.2.0.0/16", "fd00:2::/64"]' "$2"
    write_conf "$D/b.conf" b 192.0.2.2 %any b.example a.example '["10.2.0.0/16", "fd00:2::/64"]' '["10.1.0.0/16", "fd00:1::/64"]' none
    rm -f "$D/a.sock" "$D/b.sock"
    ns_spawn "$A" "$D/a-$1.log" "$BIN/mobiked" --config "$D/a.conf" --foreground; PID_A=$NS_LAST_PID
    ns_spawn "$B" "$D/b-$1.log" "$BIN/mobiked" --config "$D/b.conf" --foreground; PID_B=$NS_LAST_PID
    LOGS=("$D/a-$1.log" "$D/b-$1.log")
    wait_for "[ -S $D/a.sock ] && [ -S $D/b.sock ]" 10 0.1
}
ctl() { local who=$1; shift; ip netns exec "$(ns_name "$who")" "$BIN/mobikectl" --socket "$D/$who.sock" "$@"; }
# rule_count NS COMMENT — packets counted by the rule with that comment (sum over chains)
rule_count() {
    ip netns exec "$1" nft list table inet mobiked_mk"${3:-a}" 2>/dev/null \
        | awk -v c="comment \"$2\"" 'index($0, c) { for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

log_step "baseline: without mobiked the inner prefixes are reachable in clear"
if ip netns exec "$A" ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1; then pass "leak path exists before the daemons run"
else failed "no cleartext baseline (test topology broken)"; fi

# ------------------------------------------------------------------ enforcement
log_step "enforcement: PROTECT flow with the SA down, DISCARD"
start_pair enf none || { failed "daemons did not start"; dump_logs "${LOGS[@]}"; exit 1; }
if ip netns exec "$A" nft list table inet mobiked_mka >"$D/table.txt" 2>&1; then pass "nftables table inet mobiked_mka installed"
else failed "no table inet mobiked_mka"; dump_logs "${LOGS[@]}" "$D/table.txt"; fi
cap=$D/enf.pcapng
ns_capture "$A" va "$cap" "icmp or icmp6 or tcp or (udp and not port 4500 and not port 500)" && CAP=$NS_LAST_PID
if ip netns exec "$A" ping -c 3 -i 0.2 -W 1 -I 10.1.0.1 10.2.0.1 >"$D/ping1" 2>&1; then failed "ping answered with the SA down"
else pass "PROTECT flow with the SA down: no answer"; fi
ip netns exec "$A" ping -c 2 -i 0.2 -W 1 -I fd00:1::1 fd00:2::1 >/dev/null 2>&1
n=$(rule_count "$A" "protect-out c/net")
if [ "$n" -ge 5 ]; then pass "protect-out counted $n packets (IPv4 and IPv6)"; else failed "protect-out counted '$n' (want >= 5)"; fi
# cleartext for the flow arriving at A: sent by B with the daemon's mark (B's own table lets it out)
ip netns exec "$B" ping -c 3 -i 0.2 -W 1 -m 17664 -I 10.2.0.1 10.1.0.1 >"$D/ping2" 2>&1
n=$(rule_count "$A" "protect-in c/net")
if [ "$n" -ge 3 ] && ! grep -q ' 0% packet loss' "$D/ping2"; then pass "cleartext arriving for the PROTECT flow dropped (protect-in $n)"
else failed "inbound cleartext: protect-in '$n'"; cat "$D/ping2" >&2; fi
if ip netns exec "$A" ping -c 3 -i 0.2 -W 1 10.9.0.1 >/dev/null 2>&1; then failed "DISCARD destination answered"
else pass "DISCARD destination 10.9.0.1 unreachable"; fi
n=$(rule_count "$A" "discard-out discard 10.9.0.0/16")
if [ "$n" -ge 3 ]; then pass "DISCARD counted ($n packets)"; else failed "discard-out counted '$n'"; fi
kill_pid "$CAP" 3
leaked=$(tshark -n -r "$cap" -Y 'ip.src == 10.1.0.1 || ip.dst == 10.9.0.1 || ipv6.src == fd00:1::1' 2>/dev/null | wc -l)
inbound=$(tshark -n -r "$cap" -Y 'ip.src == 10.2.0.1' 2>/dev/null | wc -l)
if [ "$leaked" = 0 ] && [ "$inbound" -ge 3 ]; then pass "nothing of A's flows on the wire in clear (capture: 0 packets; B's marked probes seen: $inbound)"
else failed "capture: $leaked cleartext packets from A, $inbound from B"; tshark -n -r "$cap" 2>/dev/null | head -10 >&2; fi

log_step "SA up: traffic through the tunnel only"
cap=$D/up.pcapng
ns_capture "$A" va "$cap" && CAP=$NS_LAST_PID
if ctl a initiate --conn c --timeout 10 >/dev/null && ip netns exec "$A" ping -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1; then
    pass "ping through the tunnel with enforcement on"
else failed "no ping through the tunnel"; dump_logs "${LOGS[@]}"; fi
if ip netns exec "$A" ping -c 3 -i 0.2 -W 2 -I fd00:1::1 fd00:2::1 >/dev/null 2>&1; then pass "IPv6 ping through the tunnel"
else failed "no IPv6 ping through the tunnel"; fi
kill_pid "$CAP" 3
clear=$(tshark -n -r "$cap" -Y 'icmp && !icmp.type == 3 || icmpv6.type == 128 || icmpv6.type == 129' 2>/dev/null | wc -l)
esp=$(tshark -n -r "$cap" -Y esp 2>/dev/null | wc -l)
if [ "$clear" = 0 ] && [ "$esp" -ge 6 ]; then pass "on the wire: $esp ESP packets, no cleartext ICMP"
else failed "on the wire: $esp ESP, $clear cleartext ICMP"; fi
stop_daemons
if ! ip netns exec "$A" nft list table inet mobiked_mka >/dev/null 2>&1; then pass "table removed when the daemon stopped"
else failed "table inet mobiked_mka left behind"; fi

# ------------------------------------------------------------------ path MTU
log_step "path MTU: trap policy (routes into the TUN at the device MTU)"
start_pair pmtu trap || { failed "daemons did not start"; dump_logs "${LOGS[@]}"; exit 1; }
sleep 0.3
ip netns exec "$A" ping -c 1 -W 3 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1  # ACQUIRE, SA up
wait_for "ctl a --json list-sas | grep -q spi_in" 10 0.2 || failed "trap did not bring the SA up"
ip netns exec "$A" ping -c 3 -i 0.3 -W 1 -M do -s 1472 -I 10.1.0.1 10.2.0.1 >"$D/pmtu4" 2>&1
if grep -Eq 'Frag needed.*mtu ?= ?1438' "$D/pmtu4"; then pass "IPv4 DF 1500 bytes: $(grep -m1 -o 'Frag needed.*' "$D/pmtu4")"
else failed "IPv4: no 'Frag needed' with mtu 1438"; cat "$D/pmtu4" >&2; fi
ip netns exec "$A" ping -c 3 -i 0.3 -W 1 -M do -s 1452 -I fd00:1::1 fd00:2::1 >"$D/pmtu6" 2>&1
if grep -Eiq 'Packet too big.*mtu ?= ?1438' "$D/pmtu6"; then pass "IPv6 1500 bytes: $(grep -m1 -io 'Packet too big.*' "$D/pmtu6")"
else failed "IPv6: no 'Packet too big' with mtu 1438"; cat "$D/pmtu6" >&2; fi
drops=$(ctl a --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["dataplane"].get("drop_path_mtu", 0))')
if [ "${drops:-0}" -ge 2 ]; then pass "drop_path_mtu counted ($drops)"; else failed "drop_path_mtu '$drops'"; fi
if ip netns exec "$A" ping -c 2 -i 0.2 -W 2 -M do -s 1400 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1; then pass "1428-byte DF ping fits and is answered"
else failed "1428-byte DF ping not answered"; fi
stop_daemons

echo
for f in "${FAILURES[@]}"; do echo "FAILED: $f"; done
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
