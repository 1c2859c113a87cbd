#!/usr/bin/env bash
# Remote access with the Configuration Payload: one mobiked gateway with an
# address pool and a server address behind it (10.1.0.1 on its lo), two
# mobiked clients (user1@company.com, user2@company.com, PSK) asking for an
# inner address (vips = 0.0.0.0).
#   1. each client gets its own address from the pool, on its TUN, as the
#      source of the route into the tunnel; list-sas shows it (JSON and text)
#   2. each pings the server through the tunnel from its inner address
#      (plain ping: the route's src picks it)
#   3. the gateway routes each leased /32 into its TUN
#   4. user1 terminates: the address leaves its TUN; it reconnects and gets
#      the same address back, and pings again
# Prints "N passed, N failed". Needs root and a build (MOBIKED_BIN, default build/release).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${MOBIKED_BIN:-build/release}
source tests/lib/netns.sh
netns_time_limit 85 "$0" "$@"
netns_init

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); log_info "PASS: $*"; }
failed() { FAILED=$((FAILED + 1)); log_err "FAIL: $*"; }
report() { echo "$PASSED passed, $FAILED failed"; }
NS_EXIT_HOOK=report

G=$(ns_add gw)
C1=$(ns_add c1)
C2=$(ns_add c2)
ns_link "$G" "$C1" 192.0.2.1/24 192.0.2.2/24 "" "" g1 c1
ns_link "$G" "$C2" 198.51.100.1/24 198.51.100.2/24 "" "" g2 c2
ns_lo_addr "$G" 10.1.0.1/32
D=$(tmp_dir conf)
psk1=$(openssl rand -hex 24)
psk2=$(openssl rand -hex 24)

cat >"$D/gw.conf" <<CONF
daemon = { control_socket = "$D/gw.sock"; tun = "mkgw"; log = { default = "info"; }; };
pools = { users = { addrs = "10.9.0.0/24"; dns = ["10.1.0.53"]; }; };
connections = {
  rw = {
    pools = ["users"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    local = { auth = "psk"; id = "gw.company.com"; };
    remote = { auth = "psk"; };
    children = { net = { local_ts = ["10.1.0.0/24"]; remote_ts = ["dynamic"]; }; };
  };
};
secrets = {
  u1 = { ids = ["user1@company.com", "gw.company.com"]; secret = "0x$psk1"; };
  u2 = { ids = ["user2@company.com", "gw.company.com"]; secret = "0x$psk2"; };
};
CONF

# client_conf WHO GW_ADDR PSK
client_conf() {
    cat >"$D/$1.conf" <<CONF
daemon = { control_socket = "$D/$1.sock"; tun = "mk$1"; log = { default = "info"; }; };
connections = {
  vpn = {
    remote_addrs = ["$2"];
    vips = ["0.0.0.0"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    local = { auth = "psk"; id = "$1@company.com"; };
    remote = { auth = "psk"; id = "gw.company.com"; };
    children = { net = { local_ts = ["dynamic"]; remote_ts = ["10.1.0.0/24"]; }; };
  };
};
secrets = { s = { ids = ["$1@company.com", "gw.company.com"]; secret = "0x$3"; }; };
CONF
}
client_conf user1 192.0.2.1 "$psk1"
client_conf user2 198.51.100.1 "$psk2"

declare -A NSOF=([gw]=$G [user1]=$C1 [user2]=$C2)
declare -A PIDOF=()
start() {  # start WHO
    rm -f "$D/$1.sock"
    ns_spawn "${NSOF[$1]}" "$D/$1.log" "$BIN/mobiked" --config "$D/$1.conf" --foreground
    PIDOF[$1]=$NS_LAST_PID
    wait_for "[ -S $D/$1.sock ]" 10 0.1 || failed "$1: no control socket"
}
ctl() { local who=$1; shift; ip netns exec "${NSOF[$who]}" "$BIN/mobikectl" --socket "$D/$who.sock" "$@"; }
LOGS=("$D/gw.log" "$D/user1.log" "$D/user2.log")

# vip_of WHO — the client's local virtual IP from list-sas --json
vip_of() {
    ctl "$1" --json list-sas 2>/dev/null | python3 -c '
import json, sys
v = [a for s in json.load(sys.stdin)["ike_sas"] for a in s.get("local_vips", [])]
print(v[0] if v else "")'
}

# connect WHO — initiate, then check address, route, list-sas; prints the address in VIP
connect() {
    local who=$1 ns=${NSOF[$1]}
    if ! ctl "$who" initiate --conn vpn --timeout 10 >"$D/$who.init" 2>&1; then
        failed "$who: initiate: $(tail -1 "$D/$who.init")"; dump_logs "${LOGS[@]}"; VIP=; return 1
    fi
    VIP=$(vip_of "$who")
    case $VIP in
        10.9.0.*) pass "$who: got inner address $VIP from the gateway pool" ;;
        *) failed "$who: no inner address from the pool (got '$VIP')"; dump_logs "$D/$who.log"; return 1 ;;
    esac
    if ip -n "$ns" -4 addr show dev "mk$who" | grep -q "inet $VIP/32"; then
        pass "$who: $VIP is on the TUN mk$who"
    else
        failed "$who: $VIP not on mk$who: $(ip -n "$ns" -4 addr show dev "mk$who")"
    fi
    if ip -n "$ns" route show table 4500 | grep -q "^10.1.0.0/24 dev mk$who .*src $VIP"; then
        pass "$who: route 10.1.0.0/24 into the tunnel has src $VIP"
    else
        failed "$who: route into the tunnel: $(ip -n "$ns" route show table 4500)"
    fi
    if ctl "$who" list-sas | grep -q "'$who@company.com' @ .*\[$VIP\]"; then
        pass "$who: list-sas shows [$VIP] on the local line"
    else
        failed "$who: list-sas text: $(ctl "$who" list-sas)"
    fi
    return 0
}

# ping_server WHO VIP — plain ping (source from the route), then check it came from VIP
ping_server() {
    local who=$1 vip=$2
    if ip netns exec "${NSOF[$who]}" ping -c 3 -i 0.2 -W 2 10.1.0.1 >"$D/ping.out" 2>&1; then
        pass "$who: ping 10.1.0.1 through the tunnel ($(grep -o 'rtt.*' "$D/ping.out"))"
    else
        failed "$who: ping 10.1.0.1 through the tunnel"; cat "$D/ping.out" >&2; return 1
    fi
    if ip netns exec "${NSOF[$who]}" ping -c 1 -W 2 -I "$vip" 10.1.0.1 >/dev/null 2>&1; then
        pass "$who: ping -I $vip 10.1.0.1"
    else
        failed "$who: ping -I $vip 10.1.0.1"
    fi
}

log_step "start gateway and clients"
start gw; start user1; start user2

log_step "1-2. both clients connect and ping the server"
connect user1; VIP1=$VIP
[ -n "$VIP1" ] && ping_server user1 "$VIP1"
connect user2; VIP2=$VIP
[ -n "$VIP2" ] && ping_server user2 "$VIP2"
if [ -n "$VIP1" ] && [ -n "$VIP2" ] && [ "$VIP1" != "$VIP2" ]; then
    pass "the clients got different addresses ($VIP1, $VIP2)"
else
    failed "addresses not distinct: '$VIP1' '$VIP2'"
fi

log_step "3. the gateway's view"
gw_json=$(ctl gw --json list-sas)
for v in "$VIP1" "$VIP2"; do
    [ -n "$v" ] || continue
    if echo "$gw_json" | python3 -c '
import json, sys
sas = json.load(sys.stdin)["ike_sas"]
sys.exit(0 if any(sys.argv[1] in s.get("remote_vips", []) for s in sas) else 1)' "$v"; then
        pass "gateway list-sas: remote_vips has $v"
    else
        failed "gateway list-sas lacks $v: $gw_json"
    fi
    if ip -n "$G" route show table 4500 | grep -q "^$v dev mkgw"; then
        pass "gateway routes $v/32 into mkgw"
    else
        failed "gateway route for $v: $(ip -n "$G" route show table 4500)"
    fi
done

log_step "4. user1 reconnects and gets the same address"
ctl user1 terminate --conn vpn >/dev/null 2>&1 || failed "user1: terminate"
wait_for "[ -z \"\$(vip_of user1)\" ] && ! ip -n $C1 -4 addr show dev mkuser1 | grep -q 'inet $VIP1/'" 10 0.2 \
    && pass "user1: IKE SA gone, $VIP1 removed from mkuser1" \
    || failed "user1: $VIP1 still there: $(ip -n "$C1" -4 addr show dev mkuser1)"
wait_for "! ctl gw --json list-sas | grep -q '\"$VIP1\"'" 10 0.2 || failed "gateway still lists $VIP1"
connect user1
if [ -n "$VIP" ] && [ "$VIP" = "$VIP1" ]; then
    pass "user1: same address $VIP1 after reconnecting"
    ping_server user1 "$VIP"
else
    failed "user1: reconnect got '$VIP', first time $VIP1"
fi

if [ "$FAILED" -gt 0 ]; then dump_logs "${LOGS[@]}"; fi
for who in user1 user2 gw; do kill_pid "${PIDOF[$who]}" 5; done
[ "$FAILED" -eq 0 ]
