#!/usr/bin/env bash
# The remote-access gateway of seed 001 ("VPN example": BYPASS IKE, Name:
# company.com PROTECT with PFP on the inner address, ANY DISCARD), run from
# the shipped config/examples/remote-access-gateway.conf and
# roaming-client.conf (only paths, the control socket and the TUN name are
# changed). Namespaces: gateway (IKE address 203.0.113.1 on lo), a server
# 10.1.0.1 behind it, three clients with certificates from the same CA:
#   1. user1@company.com and user2@company.com each get their own inner
#      address (pool) and their own IKE SA / CHILD_SA, and reach the server
#      (ping, UDP echo, TCP echo from the inner address)
#   2. intruder@example.net, valid certificate of the same CA, is refused by
#      the PAD (*@company.com): AUTHENTICATION_FAILED, no SA on the gateway
#   3. traffic matching no PROTECT policy is discarded and counted: on the
#      gateway (server -> a pool address nobody holds) and on a client
#      (source not its inner address)
#   4. user1's identity asking for user2's selectors gets TS_UNACCEPTABLE;
#      asking for the whole pool gets only its own address; user2 unharmed
# Prints "N passed, N failed". Needs root and a build (MOBIKED_BIN, default build/release).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${MOBIKED_BIN:-build/release}
source tests/lib/netns.sh
source tests/lib/pki.sh
netns_time_limit 85 "$0" "$@"
netns_init

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); log_info "PASS: $*"; }
failed() { FAILED=$((FAILED + 1)); log_err "FAIL: $*"; }
report() { echo "$PASSED passed, $FAILED failed"; }
NS_EXIT_HOOK=report

GW_IKE=203.0.113.1
G=$(ns_add gw)
S=$(ns_add srv)
C1=$(ns_add u1)
C2=$(ns_add u2)
C3=$(ns_add evil)
ns_link "$G" "$C1" 192.0.2.1/24 192.0.2.2/24 "" "" g1 c1
ns_link "$G" "$C2" 198.51.100.1/24 198.51.100.2/24 "" "" g2 c2
ns_link "$G" "$C3" 100.64.0.1/24 100.64.0.2/24 "" "" g3 c3
ns_link "$G" "$S" 10.1.0.254/24 10.1.0.1/24 "" "" lan srv0
ns_lo_addr "$G" "$GW_IKE/32"
ns_forwarding "$G"
ip -n "$S" route add default via 10.1.0.254
for ns in "$C1:192.0.2.1" "$C2:198.51.100.1" "$C3:100.64.0.1"; do
    ip -n "${ns%%:*}" route add "$GW_IKE/32" via "${ns#*:}"
done

D=$(tmp_dir conf)
P=$D/pki
pki_ca "$P" ecdsa "company.com CA" >/dev/null || fail "pki: CA"
pki_cert "$P" gw ecdsa DNS:gw.company.com >/dev/null || fail "pki: gw"
for u in user1@company.com user2@company.com intruder@example.net; do
    pki_cert "$P" "${u%%@*}" ecdsa "email:$u" >/dev/null || fail "pki: $u"
done

# install WHO EXAMPLE CERT — a config dir laid out as /etc/mobiked (certs/, private/, cacerts/)
install_conf() {
    local who=$1 ex=$2 cert=$3 dir=$D/$1
    mkdir -p "$dir/certs" "$dir/private" "$dir/cacerts"
    chmod 700 "$dir/private"
    cp "$P/ca.pem" "$dir/cacerts/ca.pem"
    local leaf=client
    [ "$who" = gw ] && leaf=gw
    cp "$P/$cert.pem" "$dir/certs/$leaf.pem"
    cp "$P/$cert.key" "$dir/private/$leaf.key"
    sed -e "s|/run/mobiked/control.sock|$D/$who.sock|" -e "s|\"mobiked0\"|\"mk$who\"|" \
        "config/examples/$ex" >"$dir/mobiked.conf"
}
install_conf gw remote-access-gateway.conf gw
install_conf user1 roaming-client.conf user1
install_conf user2 roaming-client.conf user2
sed -i 's|id = "user1@company.com"|id = "user2@company.com"|' "$D/user2/mobiked.conf"
install_conf intruder roaming-client.conf intruder
sed -i 's|id = "user1@company.com"|id = "intruder@example.net"|' "$D/intruder/mobiked.conf"
# the shipped files are used as they are, apart from the substitutions above
grep -q 'id = "\*@company.com"' "$D/gw/mobiked.conf" && pass "gateway example: PAD/Name *@company.com" \
    || failed "gateway example lacks remote id *@company.com"

declare -A NSOF=([gw]=$G [user1]=$C1 [user2]=$C2 [intruder]=$C3 [thief]=$C3)
declare -A PIDOF=()
start() {  # start WHO
    rm -f "$D/$1.sock"
    ip netns exec "${NSOF[$1]}" "$BIN/mobiked" --check-config "$D/$1/mobiked.conf" >"$D/$1.check" 2>&1 \
        || { failed "$1: --check-config: $(cat "$D/$1.check")"; return 1; }
    ns_spawn "${NSOF[$1]}" "$D/$1.log" "$BIN/mobiked" --config "$D/$1/mobiked.conf" --foreground
    PIDOF[$1]=$NS_LAST_PID
    wait_for "[ -S $D/$1.sock ]" 10 0.1 || failed "$1: no control socket"
}
ctl() { local who=$1; shift; "$BIN/mobikectl" --socket "$D/$who.sock" "$@"; }
LOGS=("$D/gw.log" "$D/user1.log" "$D/user2.log" "$D/intruder.log")
# py_json WHO CMD EXPR — evaluate EXPR with j = the JSON reply of CMD
py_json() {
    ctl "$1" --json $2 2>/dev/null | python3 -c "import json,sys
j=json.load(sys.stdin)
print($3)" 2>/dev/null
}
vip_of() { py_json "$1" list-sas "([a for s in j['ike_sas'] for a in s.get('local_vips', []) if '.' in a] or [''])[0]"; }
gw_child_count() { py_json gw list-sas "sum(len(s.get('children', [])) for s in j['ike_sas'])"; }
drops() { py_json "$1" status "j['dataplane'].get('drop_discard', 0)"; }

log_step "start the gateway (shipped example) and the clients (start_action = start)"
start gw
start user1; start user2
wait_for "[ -n \"\$(vip_of user1)\" ] && [ -n \"\$(vip_of user2)\" ]" 15 0.2 \
    || { failed "clients did not get inner addresses"; dump_logs "${LOGS[@]}"; }
VIP1=$(vip_of user1); VIP2=$(vip_of user2)
case $VIP1 in 10.9.0.*) pass "user1: inner address $VIP1 from the pool" ;; *) failed "user1: no inner address ('$VIP1')" ;; esac
case $VIP2 in 10.9.0.*) pass "user2: inner address $VIP2 from the pool" ;; *) failed "user2: no inner address ('$VIP2')" ;; esac
[ -n "$VIP1" ] && [ "$VIP1" != "$VIP2" ] && pass "distinct inner addresses" || failed "inner addresses '$VIP1' '$VIP2'"

log_step "1. one IKE SA and one CHILD_SA per user on the gateway, each narrowed to its address"
wait_for "[ \"\$(gw_child_count)\" = 2 ]" 5 0.2 || true
gw_view=$(py_json gw list-sas "';'.join(sorted(s['remote_id'] + '=' + ','.join(sorted(c['remote_ts'][0] for c in s.get('children', []))) + '/' + c0['spi_in'] for s in j['ike_sas'] for c0 in s.get('children', [])[:1]))")
log_info "gateway: $gw_view"
for pair in "user1@company.com:$VIP1" "user2@company.com:$VIP2"; do
    echo "$gw_view" | grep -q "${pair%%:*}=${pair#*:}/32/" && pass "gateway: ${pair%%:*} has its own CHILD_SA for ${pair#*:}/32" \
        || failed "gateway: no CHILD_SA ${pair%%:*} -> ${pair#*:}/32 ($gw_view)"
done
spis=$(echo "$gw_view" | tr ';' '\n' | sed 's|.*/||' | sort -u | wc -l)
[ "$spis" = 2 ] && pass "two users, two distinct SAs (SPIs)" || failed "SPIs: $gw_view"

log_step "1b. each user reaches the server from its inner address (ping, UDP, TCP)"
ip netns exec "$S" timeout 60 python3 - >"$D/echo.log" 2>&1 <<'PY' &
import socket, selectors, threading
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.1.0.1", 7007))
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("10.1.0.1", 7007)); t.listen(8)
def udp():
    while True:
        d, a = u.recvfrom(2048); u.sendto(b"udp " + a[0].encode() + b" " + d, a)
def tcp():
    while True:
        c, a = t.accept(); c.settimeout(5)
        try:
            d = c.recv(2048); c.sendall(b"tcp " + a[0].encode() + b" " + d)
        finally:
            c.close()
threading.Thread(target=udp, daemon=True).start(); tcp()
PY
ECHO_PID=$!
track_pid "$ECHO_PID"
sleep 0.3
echo_check() {  # echo_check WHO VIP udp|tcp
    ip netns exec "${NSOF[$1]}" timeout 5 python3 -c '
import socket, sys
vip, kind = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
s.settimeout(2); s.bind((vip, 0))
for attempt in range(3):
    try:
        if kind == "udp": s.sendto(b"hello", ("10.1.0.1", 7007)); print(s.recv(2048).decode()); break
        s.connect(("10.1.0.1", 7007)); s.sendall(b"hello"); print(s.recv(2048).decode()); break
    except socket.timeout:
        continue' "$2" "$3"
}
for who in user1 user2; do
    [ "$who" = user1 ] && vip=$VIP1 || vip=$VIP2
    [ -n "$vip" ] || continue
    if ip netns exec "${NSOF[$who]}" ping -c 3 -i 0.2 -W 2 -I "$vip" 10.1.0.1 >"$D/ping.out" 2>&1; then
        pass "$who: ping 10.1.0.1 from $vip through the tunnel"
    else
        failed "$who: ping 10.1.0.1 from $vip: $(tail -2 "$D/ping.out")"
    fi
    for kind in udp tcp; do
        r=$(echo_check "$who" "$vip" "$kind" 2>&1)
        [ "$r" = "$kind $vip hello" ] && pass "$who: $kind echo from the server, seen from $vip" \
            || failed "$who: $kind echo: '$r'"
    done
done

log_step "2. intruder@example.net (valid certificate, same CA) is refused by the PAD"
start intruder
wait_for "grep -q 'AUTHENTICATION_FAILED' $D/intruder.log" 10 0.2 \
    && pass "intruder: gateway answered AUTHENTICATION_FAILED" \
    || failed "intruder: no AUTHENTICATION_FAILED in its log"
grep -q "no connection accepts peer identity 'intruder@example.net'" "$D/gw.log" \
    && pass "gateway log: no connection accepts intruder@example.net" || failed "gateway log lacks the refusal"
if py_json gw list-sas "any('example.net' in s['remote_id'] for s in j['ike_sas'])" | grep -q False; then
    pass "gateway: no IKE SA for the intruder"
else
    failed "gateway holds an SA for the intruder: $(ctl gw list-sas)"
fi
[ -z "$(vip_of intruder)" ] && pass "intruder: no inner address" || failed "intruder got $(vip_of intruder)"
[ "$(gw_child_count)" = 2 ] && pass "gateway: still exactly 2 CHILD_SAs" || failed "gateway CHILD_SAs: $(gw_child_count)"
kill_pid "${PIDOF[intruder]}" 5

log_step "3. traffic matching no PROTECT policy is discarded and counted (ANY DISCARD)"
# As the example says: the pool is routed into the TUN, so an address nobody holds ends there.
ip -n "$G" route add 10.9.0.0/24 dev mkgw
before=$(drops gw)
ip netns exec "$S" ping -c 3 -i 0.2 -W 1 10.9.0.200 >/dev/null 2>&1 \
    && failed "server reached 10.9.0.200 (no user holds it)" || pass "server -> 10.9.0.200 (not leased): no answer"
after=$(drops gw)
[ -n "$before" ] && [ -n "$after" ] && [ "$after" -ge $((before + 3)) ] \
    && pass "gateway: discarded and counted (drop_discard $before -> $after)" \
    || failed "gateway drop_discard $before -> $after"
ip netns exec "$G" curl -s --max-time 2 http://127.0.0.1:9464/metrics >"$D/metrics.txt" 2>&1
if grep -q '^mobiked_dataplane_drops_total{reason="discard"} [1-9]' "$D/metrics.txt"; then
    pass "gateway metrics: $(grep '^mobiked_dataplane_drops_total{reason="discard"}' "$D/metrics.txt")"
else
    failed "gateway metrics lack the discard count: $(grep -m3 'drops_total\|curl' "$D/metrics.txt")"
fi
before=$(drops user1)
ip netns exec "$C1" ping -c 2 -i 0.2 -W 1 -I 192.0.2.2 10.1.0.1 >/dev/null 2>&1 \
    && failed "user1 reached the server from its outer address through the tunnel" \
    || pass "user1: packet from its outer address into the tunnel not delivered"
after=$(drops user1)
[ -n "$before" ] && [ -n "$after" ] && [ "$after" -ge $((before + 2)) ] \
    && pass "user1: discarded and counted (drop_discard $before -> $after)" \
    || failed "user1 drop_discard $before -> $after"

log_step "4. user1's identity asks for user2's selectors, then for the whole pool"
mkdir -p "$D/thief"
cp -r "$D/user1/certs" "$D/user1/private" "$D/user1/cacerts" "$D/thief/"
cat >"$D/thief/mobiked.conf" <<CONF
daemon = { control_socket = "$D/thief.sock"; tun = "mkthief"; log = { default = "info"; }; };
connections = {
  ts = {
    remote_addrs = ["$GW_IKE"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    local = { auth = "pubkey"; id = "user1@company.com"; certs = ["certs/client.pem"]; key = "private/client.key"; };
    remote = { auth = "pubkey"; id = "gw.company.com"; cacerts = ["cacerts/ca.pem"]; };
    children = { net = { local_ts = ["$VIP2/32"]; remote_ts = ["10.1.0.0/24"]; esp_proposals = ["aes128gcm16"]; }; };
  };
  pool = {
    remote_addrs = ["$GW_IKE"];
    vips = ["0.0.0.0"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    local = { auth = "pubkey"; id = "user1@company.com"; certs = ["certs/client.pem"]; key = "private/client.key"; };
    remote = { auth = "pubkey"; id = "gw.company.com"; cacerts = ["cacerts/ca.pem"]; };
    children = { net = { local_ts = ["10.9.0.0/24"]; remote_ts = ["10.1.0.0/24"]; esp_proposals = ["aes128gcm16"]; }; };
  };
};
CONF
start thief
ctl thief initiate --conn ts --timeout 10 >"$D/thief.ts" 2>&1
wait_for "grep -q TS_UNACCEPTABLE $D/thief.log" 5 0.2 \
    && pass "user1 asking for $VIP2/32 (user2's): TS_UNACCEPTABLE" \
    || failed "no TS_UNACCEPTABLE for user1 asking $VIP2: $(cat "$D/thief.ts")"
if py_json gw list-sas "any(c['remote_ts'][0] == '$VIP2/32' and s['remote_id'] != 'user2@company.com' for s in j['ike_sas'] for c in s.get('children', []))" | grep -q False; then
    pass "gateway: no CHILD_SA for $VIP2 outside user2's IKE SA"
else
    failed "gateway gave $VIP2 to someone else: $(ctl gw list-sas)"
fi
ctl thief initiate --conn pool --timeout 10 >"$D/thief.pool" 2>&1 || failed "thief pool: $(cat "$D/thief.pool")"
got=$(py_json thief list-sas "','.join(c['local_ts'][0] for s in j['ike_sas'] if s['conn'] == 'pool' for c in s.get('children', []))")
[ "$got" = "$VIP1/32" ] && pass "user1 asking for 10.9.0.0/24 is narrowed to its own $VIP1/32" \
    || failed "user1 asking for the pool got '$got' (own $VIP1, user2 $VIP2)"
r=$(echo_check user2 "$VIP2" udp 2>&1)
[ "$r" = "udp $VIP2 hello" ] && pass "user2 still reaches the server from $VIP2" || failed "user2 after the attempts: '$r'"

if [ "$FAILED" -gt 0 ]; then dump_logs "${LOGS[@]}" "$D/thief.log"; fi
kill_pid "$ECHO_PID" 2
for who in thief user1 user2 gw; do [ -n "${PIDOF[$who]:-}" ] && kill_pid "${PIDOF[$who]}" 5; done
[ "$FAILED" -eq 0 ]
