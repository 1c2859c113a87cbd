#!/usr/bin/env bash
# Data-plane system test: two mobiked peers in network namespaces carry real
# traffic through their TUN devices.
#   1. tunnel mode, IPv4 inner and outer, ESP-in-UDP (encap forced): ping and
#      a 2 MB TCP transfer between the inner addresses (sha256 at both ends),
#      per-CHILD_SA counters from `mobikectl --json list-sas`, and tshark
#      decrypting the captured ESP with the keys from `export-keys --wireshark`
#   2. the same without encapsulation (raw ESP, IP protocol 50)
#   3. tunnel mode, IPv6 inner and outer
#   4. tunnel mode, IPv4 inner over IPv6 outer, ChaCha20-Poly1305
#   5. transport mode between the outer addresses (dynamic selectors), IPv4 and IPv6,
#      AES-CBC + HMAC-SHA-256
#   6. trap policy: the first packet triggers IKE (ACQUIRE), then traffic flows
#   7. CHILD_SA rekeys every 2 s under a UDP probe: no datagram lost
#   8. through a masquerading NAT: ESP-in-UDP via the NAT mapping, NAT-T keepalives
# Prints "N passed, N failed". Needs root and a build (MOBIKED_BIN, default build/release).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${MOBIKED_BIN:-build/release}
source tests/lib/netns.sh
netns_time_limit 280 "$0" "$@"
netns_init

PASSED=0
FAILED=0
FAILURES=()
pass() { PASSED=$((PASSED + 1)); log_info "PASS: $*"; }
failed() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); log_err "FAIL: $*"; }

A=$(ns_add a)
B=$(ns_add b)
ns_link "$A" "$B" 192.0.2.1/24 192.0.2.2/24 2001:db8:1::1/64 2001:db8:1::2/64 va vb
ns_lo_addr "$A" 10.1.0.1/32
ns_lo_addr "$B" 10.2.0.1/32
ns_lo_addr "$A" fd00:1::1/128
ns_lo_addr "$B" fd00:2::1/128
D=$(tmp_dir conf)
psk=$(openssl rand -hex 24)

# write_conf FILE WHO LOCAL REMOTE LID RID CHILDREN ENCAP
write_conf() {
    cat >"$1" <<CONF
daemon = {
  control_socket = "$D/$2.sock";
  tun = "mk$2";
  log = { default = "info"; };
  nat_keepalive = 1;
};
connections = {
  c = {
    local_addrs = ["$3"];
    remote_addrs = ["$4"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    encap = $8;
    local = { auth = "psk"; id = "$5"; };
    remote = { auth = "psk"; id = "$6"; };
    children = { $7 };
  };
};
secrets = { p = { ids = ["$5", "$6"]; secret = "0x$psk"; }; };
CONF
}

PID_A= PID_B=
stop_daemons() {
    kill_pid "$PID_A" 5; kill_pid "$PID_B" 5
    PID_A= PID_B=
}

# start_pair NAME A_LOCAL A_REMOTE B_LOCAL CHILD_A CHILD_B ENCAP
start_pair() {
    local name=$1
    write_conf "$D/a.conf" a "$2" "$3" a.example b.example "$5" "$7"
    write_conf "$D/b.conf" b "$4" "%any" b.example a.example "$6" "$7"
    rm -f "$D/a.sock" "$D/b.sock"
    ns_spawn "$A" "$D/a-$name.log" "$BIN/mobiked" --config "$D/a.conf" --foreground; PID_A=$NS_LAST_PID
    ns_spawn "$B" "$D/b-$name.log" "$BIN/mobiked" --config "$D/b.conf" --foreground; PID_B=$NS_LAST_PID
    LOGS=("$D/a-$name.log" "$D/b-$name.log")
    wait_for "[ -S $D/a.sock ] && [ -S $D/b.sock ]" 10 0.1
}

ctl() { local who=$1; shift; ip netns exec "$(ns_name "$who")" "$BIN/mobikectl" --socket "$D/$who.sock" "$@"; }

# child_counter WHO KEY — sum of KEY over all CHILD_SAs
child_counter() {
    ctl "$1" --json list-sas | python3 -c '
import json, sys
k = sys.argv[1]
print(sum(c.get(k, 0) for s in json.load(sys.stdin)["ike_sas"] for c in s["children"]))' "$2"
}

# ping_check NS SRC DST WHAT
ping_check() {
    if ip netns exec "$1" ping -c 5 -i 0.2 -W 2 -I "$2" "$3" >"$D/ping.out" 2>&1; then
        pass "$4: ping $2 -> $3 ($(grep -o 'rtt.*' "$D/ping.out"))"
        grep -o 'rtt.*' "$D/ping.out" | awk -F/ '{print $5}' >"$D/ping.avg"
        return 0
    fi
    failed "$4: ping $2 -> $3"; cat "$D/ping.out" >&2
    return 1
}

# tcp_check SRC DST WHAT — 2 MB from A (SRC) to B (DST), sha256 compared
TCP_PY='
import hashlib, socket, sys, time
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
if mode == "recv":
    s = socket.socket(fam, socket.SOCK_STREAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(1); s.settimeout(30)
    c, _ = s.accept(); c.settimeout(30); h = hashlib.sha256(); n = 0
    while True:
        d = c.recv(65536)
        if not d: break
        h.update(d); n += len(d)
    print(n, h.hexdigest())
else:
    src = sys.argv[4]; data = open(sys.argv[5], "rb").read()
    s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(30); s.bind((src, 0))
    t = time.time(); s.connect((addr, port)); s.sendall(data); s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
    print(len(data), hashlib.sha256(data).hexdigest(), "%.3f" % (time.time() - t))
'
head -c 2000000 /dev/urandom >"$D/blob"
tcp_check() {
    local src=$1 dst=$2 what=$3 port=$((20000 + RANDOM % 10000))
    ip netns exec "$B" timeout 40 python3 -c "$TCP_PY" recv "$dst" "$port" >"$D/tcp.recv" 2>&1 &
    local rpid=$!; track_pid "$rpid"
    sleep 0.3
    if ! ip netns exec "$A" timeout 40 python3 -c "$TCP_PY" send "$dst" "$port" "$src" "$D/blob" >"$D/tcp.send" 2>&1; then
        failed "$what: TCP transfer $src -> $dst: $(tail -1 "$D/tcp.send")"; kill_pid "$rpid" 1; return 1
    fi
    wait "$rpid" 2>/dev/null
    local sent recv secs
    sent=$(awk '{print $1, $2}' "$D/tcp.send"); recv=$(cat "$D/tcp.recv"); secs=$(awk '{print $3}' "$D/tcp.send")
    if [ "$sent" = "$recv" ]; then
        pass "$what: TCP 2 MB $src -> $dst, sha256 equal, $secs s ($(python3 -c "print('%.1f' % (16 / $secs))") Mbit/s)"
        return 0
    fi
    failed "$what: TCP sent '$sent' received '$recv'"
    return 1
}

# established WHO — wait for a CHILD_SA on WHO
established() { wait_for "[ \"\$(child_counter $1 packets_in 2>/dev/null)\" != '' ] && ctl $1 --json list-sas | grep -q spi_in" 15 0.2; }

# --------------------------------------------------------------- scenario 1
scenario_tunnel_v4() {  # ENCAP(true|false) WHAT
    local encap=$1 what=$2
    log_step "$what"
    start_pair "${what// /_}" 192.0.2.1 192.0.2.2 192.0.2.2 \
        'net = { local_ts = ["10.1.0.0/16"]; remote_ts = ["10.2.0.0/16"]; esp_proposals = ["aes128gcm16"]; };' \
        'net = { local_ts = ["10.2.0.0/16"]; remote_ts = ["10.1.0.0/16"]; esp_proposals = ["aes128gcm16"]; };' "$encap" \
        || { failed "$what: daemons did not start"; dump_logs "${LOGS[@]}"; return; }
    local cap="$D/${what// /_}.pcapng"
    ns_capture "$A" va "$cap" && CAP_PID=$NS_LAST_PID
    if ! ctl a initiate --conn c --timeout 10 >/dev/null; then
        failed "$what: initiate"; dump_logs "${LOGS[@]}"; stop_daemons; return
    fi
    local encap_seen
    encap_seen=$(ctl a --json list-sas | python3 -c 'import json,sys; print(json.load(sys.stdin)["ike_sas"][0]["children"][0]["udp_encap"])')
    log_info "CHILD_SA udp_encap=$encap_seen"
    ping_check "$A" 10.1.0.1 10.2.0.1 "$what" || dump_logs "${LOGS[@]}"
    ip netns exec "$A" ping -c 5 -i 0.2 -W 2 192.0.2.2 2>/dev/null | grep -o 'rtt.*' | awk -F/ '{print $5}' >"$D/ping.plain"
    log_info "ping RTT avg: tunnel $(cat "$D/ping.avg" 2>/dev/null) ms, plain $(cat "$D/ping.plain") ms"
    tcp_check 10.1.0.1 10.2.0.1 "$what" || dump_logs "${LOGS[@]}"
    local pin pout
    pin=$(child_counter b packets_in); pout=$(child_counter a packets_out)
    if [ "${pin:-0}" -gt 1000 ] && [ "${pout:-0}" -gt 1000 ]; then pass "$what: list-sas counters (a out $pout, b in $pin packets)"
    else failed "$what: list-sas counters a out '$pout' b in '$pin'"; fi
    if [ -n "${CAP_PID:-}" ]; then
        kill_pid "$CAP_PID" 3; CAP_PID=
        tshark_check "$cap" "$what"
    fi
    if [ "$encap" = false ]; then
        if [ "$encap_seen" = False ]; then pass "$what: SA without UDP encapsulation"
        else failed "$what: SA is UDP-encapsulated although encap = false"; fi
    fi
    ctl a status >"$D/status.out"; log_info "$(grep -A3 'data plane' "$D/status.out" | tr -s ' ' | tr '\n' ' ')"
    local route want=1438; [ "$encap" = true ] || want=1446
    route=$(ip -n "$A" route show table 4500 10.2.0.0/16)
    if grep -q "dev mka" <<<"$route" && grep -q "mtu $want" <<<"$route" && grep -q "src 10.1.0.1" <<<"$route"; then
        pass "$what: route into the TUN with the SA's MTU ($route)"
    else failed "$what: route '$route' (want dev mka, src 10.1.0.1, mtu $want)"; fi
    stop_daemons
    if [ -z "$(ip -n "$A" route show table 4500)" ] && ! ip -n "$A" rule | grep -q 'lookup 4500' \
        && ! ip -n "$A" link show mka >/dev/null 2>&1; then
        pass "$what: routes, rule and TUN gone after the daemon stopped"
    else failed "$what: leftovers: $(ip -n "$A" route show table 4500) $(ip -n "$A" rule | grep 4500)"; fi
}

tshark_check() {  # CAP WHAT
    local cap=$1 what=$2 kdir
    command -v tshark >/dev/null || { log_warn "no tshark: decryption check skipped"; return; }
    kdir=$(tmp_dir keys)
    if ! ctl a export-keys --wireshark "$kdir" >/dev/null 2>&1; then failed "$what: export-keys"; return; fi
    local prefs=(-o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE)
    local sa_file; sa_file=$(ls "$kdir"/* 2>/dev/null | head -1)
    HOME=$kdir; mkdir -p "$kdir/.config/wireshark"; cp "$sa_file" "$kdir/.config/wireshark/esp_sa" 2>/dev/null
    local out esp icmp tcp bad
    out=$(HOME=$kdir tshark -n -r "$cap" "${prefs[@]}" -T fields -e frame.protocols 2>&1)
    esp=$(grep -c ':esp' <<<"$out"); icmp=$(grep -c 'esp:ip:icmp' <<<"$out"); tcp=$(grep -c 'esp:ip:tcp' <<<"$out")
    # ICMP errors quoting a truncated ESP packet do not count (tshark cannot decode the
    # quote): the kernel sends "protocol unreachable" when a raw ESP packet races a raw
    # socket being added or removed elsewhere on the host (TCP then retransmits).
    local quoted; quoted=$(HOME=$kdir tshark -n -r "$cap" -Y 'icmp.type == 3 || icmpv6.type == 1' 2>/dev/null | wc -l)
    [ "$quoted" = 0 ] || log_warn "$what: $quoted ICMP destination-unreachable in the capture"
    # The TCP payload is random bytes: a heuristic or port-based dissector may
    # take it for some protocol (Thrift was seen) and call it malformed. Only
    # errors up to and including TCP say anything about decryption.
    bad=$(HOME=$kdir tshark -n -r "$cap" "${prefs[@]}" -Y '(_ws.malformed || _ws.expert.severity >= error) && !icmp && !icmpv6 && !(frame.protocols matches "tcp:(?!data$)")' 2>/dev/null | wc -l)
    if [ "$esp" -gt 0 ] && [ "$icmp" -ge 10 ] && [ "$tcp" -gt 100 ] && [ "$bad" = 0 ]; then
        pass "$what: tshark decrypts $esp ESP packets ($icmp ICMP, $tcp TCP inside, 0 malformed)"
    else
        failed "$what: tshark: $esp ESP, $icmp ICMP, $tcp TCP inside, $bad malformed/errors"
        HOME=$kdir tshark -n -r "$cap" "${prefs[@]}" -Y '(_ws.malformed || _ws.expert.severity >= error) && !icmp && !icmpv6 && !(frame.protocols matches "tcp:(?!data$)")' \
            -T fields -e frame.number -e frame.protocols -e _ws.expert.message 2>&1 | head -5 >&2
    fi
}

scenario_tunnel_v6() {
    local what="tunnel IPv6"
    log_step "$what"
    start_pair v6 2001:db8:1::1 2001:db8:1::2 2001:db8:1::2 \
        'net = { local_ts = ["fd00:1::/64"]; remote_ts = ["fd00:2::/64"]; esp_proposals = ["aes256gcm16"]; };' \
        'net = { local_ts = ["fd00:2::/64"]; remote_ts = ["fd00:1::/64"]; esp_proposals = ["aes256gcm16"]; };' false \
        || { failed "$what: daemons did not start"; return; }
    if ! ctl a initiate --conn c --timeout 10 >/dev/null; then failed "$what: initiate"; dump_logs "${LOGS[@]}"; stop_daemons; return; fi
    ping_check "$A" fd00:1::1 fd00:2::1 "$what" || dump_logs "${LOGS[@]}"
    tcp_check fd00:1::1 fd00:2::1 "$what" || dump_logs "${LOGS[@]}"
    stop_daemons
}

scenario_transport() {  # FAMILY(4|6)
    local what="transport IPv$1" a=192.0.2.1 b=192.0.2.2
    [ "$1" = 6 ] && { a=2001:db8:1::1; b=2001:db8:1::2; }
    log_step "$what"
    start_pair "transport$1" "$a" "$b" "$b" \
        'host = { mode = "transport"; esp_proposals = ["aes128-sha256"]; };' \
        'host = { mode = "transport"; esp_proposals = ["aes128-sha256"]; };' false \
        || { failed "$what: daemons did not start"; return; }
    if ! ctl a initiate --conn c --timeout 10 >/dev/null; then failed "$what: initiate"; dump_logs "${LOGS[@]}"; stop_daemons; return; fi
    ping_check "$A" "$a" "$b" "$what" || dump_logs "${LOGS[@]}"
    tcp_check "$a" "$b" "$what" || dump_logs "${LOGS[@]}"
    local pin; pin=$(child_counter b packets_in)
    if [ "${pin:-0}" -gt 1000 ]; then pass "$what: traffic went through the SA ($pin packets in at b)"
    else failed "$what: only '$pin' packets counted on b's SA"; fi
    stop_daemons
}

# IPv4 inner addresses over IPv6 outer addresses (and the selectors' family
# differs from the SA endpoints').
scenario_v4_in_v6() {
    local what="tunnel IPv4 in IPv6"
    log_step "$what"
    start_pair v4in6 2001:db8:1::1 2001:db8:1::2 2001:db8:1::2 \
        'net = { local_ts = ["10.1.0.0/16"]; remote_ts = ["10.2.0.0/16"]; esp_proposals = ["chacha20poly1305"]; };' \
        'net = { local_ts = ["10.2.0.0/16"]; remote_ts = ["10.1.0.0/16"]; esp_proposals = ["chacha20poly1305"]; };' true \
        || { failed "$what: daemons did not start"; return; }
    if ! ctl a initiate --conn c --timeout 10 >/dev/null; then failed "$what: initiate"; dump_logs "${LOGS[@]}"; stop_daemons; return; fi
    ping_check "$A" 10.1.0.1 10.2.0.1 "$what" || dump_logs "${LOGS[@]}"
    tcp_check 10.1.0.1 10.2.0.1 "$what" || dump_logs "${LOGS[@]}"
    stop_daemons
}

# A behind a masquerading router: NAT detected, ESP-in-UDP through the NAT,
# keepalives from the NATed side.
scenario_nat() {
    local what="tunnel IPv4 through NAT"
    log_step "$what"
    local NA NR NB
    NA=$(ns_add na) && NR=$(ns_add nr) && NB=$(ns_add nb) || { failed "$what: namespaces"; return; }
    ns_link "$NA" "$NR" 10.99.0.2/24 10.99.0.1/24 "" "" eth0 in0
    ns_link "$NR" "$NB" 198.18.0.1/24 198.18.0.2/24 "" "" out0 eth0
    ip -n "$NA" route add default via 10.99.0.1
    ns_forwarding "$NR"
    printf 'table ip nat {\n chain post { type nat hook postrouting priority 100; oifname "out0" masquerade; }\n}\n' \
        | ip netns exec "$NR" nft -f - || { failed "$what: nft masquerade"; return; }
    ns_lo_addr "$NA" 10.1.0.1/32
    ns_lo_addr "$NB" 10.2.0.1/32
    write_conf "$D/na.conf" na 10.99.0.2 198.18.0.2 a.example b.example \
        'net = { local_ts = ["10.1.0.0/16"]; remote_ts = ["10.2.0.0/16"]; };' false
    write_conf "$D/nb.conf" nb 198.18.0.2 "%any" b.example a.example \
        'net = { local_ts = ["10.2.0.0/16"]; remote_ts = ["10.1.0.0/16"]; };' false
    LOGS=("$D/na.log" "$D/nb.log")
    ns_spawn "$NA" "$D/na.log" "$BIN/mobiked" --config "$D/na.conf" --foreground; local pa=$NS_LAST_PID
    ns_spawn "$NB" "$D/nb.log" "$BIN/mobiked" --config "$D/nb.conf" --foreground; local pb=$NS_LAST_PID
    if ! wait_for "[ -S $D/na.sock ] && [ -S $D/nb.sock ]" 10 0.1 || ! ctl na initiate --conn c --timeout 10 >/dev/null; then
        failed "$what: establish"; dump_logs "${LOGS[@]}"; kill_pid "$pa"; kill_pid "$pb"; return
    fi
    local nat
    nat=$(ctl nb --json list-sas | python3 -c 'import json,sys; s=json.load(sys.stdin)["ike_sas"][0]; print(s["nat_remote"], s["remote"], s["children"][0]["udp_encap"])')
    if [[ "$nat" == "True 198.18.0.1:"*" True" ]]; then pass "$what: responder sees the NAT ($nat)"
    else failed "$what: responder's view '$nat' (want the NAT, 198.18.0.1, UDP encapsulation)"; fi
    if ip netns exec "$NA" ping -c 5 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >"$D/ping.out" 2>&1 \
        && ip netns exec "$NB" ping -c 3 -i 0.2 -W 2 -I 10.2.0.1 10.1.0.1 >>"$D/ping.out" 2>&1; then
        pass "$what: pings both ways through the NAT"
    else failed "$what: ping through the NAT"; cat "$D/ping.out" >&2; fi
    sleep 2.2
    local ka; ka=$(ctl na --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["dataplane"]["nat_keepalives_sent"])')
    if [ "${ka:-0}" -ge 2 ]; then pass "$what: NAT-T keepalives sent ($ka)"
    else failed "$what: $ka NAT-T keepalives after 2 s (nat_keepalive = 1)"; fi
    kill_pid "$pa" 5; kill_pid "$pb" 5
    ns_del "$NA"; ns_del "$NR"; ns_del "$NB"
}

# CHILD_SA rekeys by time (rekey_time = 2 s) while a UDP probe runs: traffic moves
# to the new SAs, the old ones drain, nothing is lost.
scenario_rekey() {
    local what="rekey under traffic"
    log_step "$what"
    start_pair rekey 192.0.2.1 192.0.2.2 192.0.2.2 \
        'net = { local_ts = ["10.1.0.0/16"]; remote_ts = ["10.2.0.0/16"]; rekey_time = 2; life_time = 30; };' \
        'net = { local_ts = ["10.2.0.0/16"]; remote_ts = ["10.1.0.0/16"]; rekey_time = 30; };' true \
        || { failed "$what: daemons did not start"; return; }
    if ! ctl a initiate --conn c --timeout 10 >/dev/null; then failed "$what: initiate"; dump_logs "${LOGS[@]}"; stop_daemons; return; fi
    local first out=$D/rekey-probe.txt port=$((30000 + RANDOM % 10000)) rpid lost
    first=$(ctl a --json list-sas | python3 -c 'import json,sys; print(json.load(sys.stdin)["ike_sas"][0]["children"][0]["spi_in"])')
    probe_recv "$B" 10.2.0.1 "$port" 15 "$out" 1000 || { failed "$what: probe receiver"; stop_daemons; return; }
    rpid=$NS_LAST_PID
    probe_send "$A" 10.1.0.1 10.2.0.1 "$port" 1000 5 >/dev/null
    sleep 0.3
    lost=$(probe_result "$out" lost "$rpid")
    local now rekeys
    now=$(ctl a --json list-sas | python3 -c 'import json,sys; print(json.load(sys.stdin)["ike_sas"][0]["children"][0]["spi_in"])')
    rekeys=$(grep -c "CHILD_SA net installed" "$D/a-rekey.log")
    if [ "$now" != "$first" ] && [ "$rekeys" -ge 3 ]; then pass "$what: $((rekeys - 1)) rekeys in 5 s, SPI $first -> $now"
    else failed "$what: SPI $first -> $now, $rekeys installs"; fi
    if [ "${lost:-999}" = 0 ]; then pass "$what: 1000 datagrams at 5 ms across the rekeys, none lost"
    else failed "$what: $lost of 1000 datagrams lost across rekeys"; dump_logs "${LOGS[@]}"; fi
    stop_daemons
}

scenario_trap() {
    local what="trap (ACQUIRE)"
    log_step "$what"
    start_pair trap 192.0.2.1 192.0.2.2 192.0.2.2 \
        'net = { local_ts = ["10.1.0.0/16"]; remote_ts = ["10.2.0.0/16"]; start_action = "trap"; };' \
        'net = { local_ts = ["10.2.0.0/16"]; remote_ts = ["10.1.0.0/16"]; };' false \
        || { failed "$what: daemons did not start"; return; }
    sleep 0.3
    # no SA yet: the first pings are queued while IKE runs, then answered
    if ip netns exec "$A" ping -c 3 -i 0.3 -W 3 -I 10.1.0.1 10.2.0.1 >"$D/ping.out" 2>&1; then
        pass "$what: pings answered after ACQUIRE ($(grep -o '[0-9]* received' "$D/ping.out"))"
    else
        failed "$what: no ping answer"; dump_logs "${LOGS[@]}"
    fi
    if grep -q ACQUIRE "$D/a-trap.log"; then pass "$what: ACQUIRE logged"; else failed "$what: no ACQUIRE"; fi
    stop_daemons
}

scenario_tunnel_v4 true "tunnel IPv4 ESP-in-UDP"
scenario_tunnel_v4 false "tunnel IPv4 raw ESP"
scenario_tunnel_v6
scenario_v4_in_v6
scenario_transport 4
scenario_transport 6
scenario_trap
scenario_rekey
scenario_nat

echo
for f in "${FAILURES[@]}"; do echo "FAILED: $f"; done
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
