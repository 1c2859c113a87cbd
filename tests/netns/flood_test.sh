#!/usr/bin/env bash
# Denial-of-service resistance (RFC 7296 §2.6): a bounded flood of
# IKE_SA_INIT requests from many spoofed sources against a mobiked responder
# with a low cookie_threshold, and a legitimate client connecting during it.
#   attacker ns: a python3 raw-socket sender, IPv4/UDP with random sources in
#                172.16.0.0/16 (routed back to the attacker, so nothing answers
#                the responder's COOKIE replies), a bounded count and rate
#   responder:   cookie_threshold = 8, half_open_per_source = 4
# Checks: half-open IKE SAs stay bounded (mobikectl status, sampled during the
# flood); the responder answered with COOKIEs (metrics); the client gets its
# IKE SA and CHILD_SA during the flood and traffic passes; the daemon answers.
# Prints "N passed, N failed". Needs root and a build (MOBIKED_BIN, default build/release).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${MOBIKED_BIN:-build/release}
source tests/lib/netns.sh
netns_time_limit 80 "$0" "$@"
netns_init

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); log_info "PASS: $*"; }
failed() { FAILED=$((FAILED + 1)); log_err "FAIL: $*"; }
report() { echo "$PASSED passed, $FAILED failed"; }
NS_EXIT_HOOK=report

FLOOD_COUNT=${FLOOD_COUNT:-30000}   # packets
FLOOD_RATE=${FLOOD_RATE:-5000}      # packets per second (bounded: ~6 s)
THRESHOLD=8

R=$(ns_add resp)
A=$(ns_add attk)
C=$(ns_add cli)
ns_link "$R" "$A" 192.0.2.1/24 192.0.2.66/24 "" "" ra ar
ns_link "$R" "$C" 198.51.100.1/24 198.51.100.2/24 "" "" rc cr
ns_lo_addr "$R" 10.1.0.1/32
ns_lo_addr "$C" 10.2.0.1/32
ip -n "$R" route add 172.16.0.0/16 via 192.0.2.66   # the spoofed prefix leads to the attacker
D=$(tmp_dir conf)
psk=$(openssl rand -hex 24)
cat >"$D/resp.conf" <<CONF
daemon = { control_socket = "$D/resp.sock"; tun = "mkresp"; log = { default = "info"; ike = "warning"; };
           cookie_threshold = $THRESHOLD; half_open_per_source = 4; metrics = "127.0.0.1:9464"; };
connections = {
  c = {
    proposals = ["aes128gcm16-prfsha256-x25519"];
    local = { auth = "psk"; id = "resp.example.com"; };
    remote = { auth = "psk"; id = "client.example.com"; };
    children = { net = { local_ts = ["10.1.0.1/32"]; remote_ts = ["10.2.0.1/32"]; esp_proposals = ["aes128gcm16"]; }; };
  };
};
secrets = { s = { ids = ["client.example.com", "resp.example.com"]; secret = "0x$psk"; }; };
CONF
cat >"$D/cli.conf" <<CONF
daemon = { control_socket = "$D/cli.sock"; tun = "mkcli"; log = { default = "info"; }; };
connections = {
  c = {
    local_addrs = ["198.51.100.2"];
    remote_addrs = ["198.51.100.1"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    retransmit = { timeout = 1.0; base = 1.5; tries = 6; };
    local = { auth = "psk"; id = "client.example.com"; };
    remote = { auth = "psk"; id = "resp.example.com"; };
    children = { net = { local_ts = ["10.2.0.1/32"]; remote_ts = ["10.1.0.1/32"]; esp_proposals = ["aes128gcm16"]; }; };
  };
};
secrets = { s = { ids = ["client.example.com", "resp.example.com"]; secret = "0x$psk"; }; };
CONF

ns_spawn "$R" "$D/resp.log" "$BIN/mobiked" --config "$D/resp.conf" --foreground
RPID=$NS_LAST_PID
ns_spawn "$C" "$D/cli.log" "$BIN/mobiked" --config "$D/cli.conf" --foreground
CPID=$NS_LAST_PID
wait_for "[ -S $D/resp.sock ] && [ -S $D/cli.sock ]" 10 0.1 || fail "daemons did not start"
ctl() { local who=$1; shift; "$BIN/mobikectl" --socket "$D/$who.sock" "$@"; }
status_field() { ctl "$1" --json status 2>/dev/null | python3 -c "import json,sys; j=json.load(sys.stdin); print($2)" 2>/dev/null; }

log_step "flood: $FLOOD_COUNT IKE_SA_INIT from random 172.16.0.0/16 sources at $FLOOD_RATE/s"
ip netns exec "$A" timeout 30 python3 - "$FLOOD_COUNT" "$FLOOD_RATE" >"$D/flood.out" 2>&1 <<'PY' &
import os, random, socket, struct, sys, time
count, rate = int(sys.argv[1]), int(sys.argv[2])
def payload(nxt, body): return struct.pack("!BBH", nxt, 0, 4 + len(body)) + body
def transform(last, ttype, tid, attrs=b""):
    return struct.pack("!BBHBBH", 0 if last else 3, 0, 8 + len(attrs), ttype, 0, tid) + attrs
def ike_sa_init():
    t = (transform(False, 1, 20, struct.pack("!HH", 0x800E, 128))   # ENCR AES-GCM-16, 128
         + transform(False, 2, 5)                                     # PRF HMAC-SHA2-256
         + transform(True, 4, 31))                                    # DH x25519
    prop = struct.pack("!BBHBBBB", 0, 0, 8 + len(t), 1, 1, 0, 3) + t
    body = (payload(34, prop)                                         # SA -> KE
            + payload(40, struct.pack("!HH", 31, 0) + os.urandom(32)) # KE -> Nonce
            + payload(0, os.urandom(32)))                             # Nonce
    hdr = os.urandom(8) + bytes(8) + struct.pack("!BBBBII", 33, 0x20, 34, 0x08, 0, 28 + len(body))
    return hdr + body
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
dst = socket.inet_aton("192.0.2.1")
start = time.monotonic(); sent = 0
while sent < count and time.monotonic() - start < 25:
    ike = ike_sa_init()
    udp = struct.pack("!HHHH", random.randint(1024, 65535), 500, 8 + len(ike), 0) + ike
    src = bytes([172, 16, random.randint(0, 255), random.randint(1, 254)])
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
    try:
        s.sendto(ip + udp, ("192.0.2.1", 0)); sent += 1
    except OSError:
        time.sleep(0.001)
    ahead = sent / rate - (time.monotonic() - start)
    if ahead > 0: time.sleep(ahead)
print(f"sent {sent} in {time.monotonic() - start:.1f} s")
PY
FLOOD_PID=$!
track_pid "$FLOOD_PID"

# sample the responder's half-open count while the flood runs
MAX_HALF=0
sample() {
    local h
    h=$(status_field resp "j['half_open']")
    [ -n "$h" ] && [ "$h" -gt "$MAX_HALF" ] && MAX_HALF=$h
    [ -n "$h" ]
}
sleep 1
sample || failed "responder status during the flood"
rx_mid=$(status_field resp "j['datagrams_in']")
log_info "after 1 s: half_open=$MAX_HALF datagrams_in=$rx_mid"

log_step "the legitimate client connects during the flood"
t0=$(date +%s.%N)
ctl cli initiate --conn c --timeout 20 >"$D/init.out" 2>&1 &
INIT_PID=$!
for _ in $(seq 1 40); do
    sample
    kill -0 "$INIT_PID" 2>/dev/null || break
    sleep 0.25
done
if wait "$INIT_PID"; then
    pass "client established its IKE SA during the flood ($(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')") s)"
else
    failed "client initiate during the flood: $(tail -3 "$D/init.out")"
fi
kill -0 "$FLOOD_PID" 2>/dev/null && pass "the flood was still running when the client got its SA" \
    || log_warn "the flood ended before the client's SA (raise FLOOD_COUNT)"
children=$(ctl cli --json list-sas 2>/dev/null | python3 -c 'import json,sys; print(sum(len(s.get("children", [])) for s in json.load(sys.stdin)["ike_sas"]))')
[ "$children" = 1 ] && pass "client: CHILD_SA installed" || failed "client CHILD_SAs: '$children'"
if ip netns exec "$C" ping -c 3 -i 0.2 -W 2 -I 10.2.0.1 10.1.0.1 >/dev/null 2>&1; then
    pass "traffic through the tunnel during/after the flood"
else
    failed "ping 10.1.0.1 through the tunnel"
fi
while kill -0 "$FLOOD_PID" 2>/dev/null; do sample; sleep 0.25; done
wait "$FLOOD_PID"
log_info "flood: $(cat "$D/flood.out")"
sample
sent=$(sed -n 's/^sent \([0-9]*\).*/\1/p' "$D/flood.out")
[ -n "$sent" ] && [ "$sent" -ge $((FLOOD_COUNT / 2)) ] && pass "flood sent $sent packets" || failed "flood: $(cat "$D/flood.out")"
rx=$(status_field resp "j['datagrams_in']")
[ -n "$rx" ] && [ "$rx" -ge $((sent / 2)) ] && pass "responder received $rx datagrams" || failed "responder received '$rx' of $sent"

# bounded: the threshold, plus what cookie-holders (the client) may add
[ "$MAX_HALF" -le $((THRESHOLD + 2)) ] && pass "half-open IKE SAs stayed bounded (max sampled $MAX_HALF, threshold $THRESHOLD)" \
    || failed "half-open reached $MAX_HALF (threshold $THRESHOLD)"
cookies=$(ip netns exec "$R" curl -s --max-time 2 http://127.0.0.1:9464/metrics \
    | sed -n 's/^mobiked_ike_messages_total{exchange="IKE_SA_INIT",direction="sent",type="response"} \([0-9.e+]*\)$/\1/p')
cookies=${cookies%.*}
[ -n "$cookies" ] && [ "$cookies" -ge $((sent / 2)) ] && pass "responder answered $cookies IKE_SA_INIT (stateless COOKIE replies)" \
    || failed "IKE_SA_INIT responses: '$cookies' for $sent requests"
established=$(status_field resp "j['ike_sas_by_state'].get('ESTABLISHED', 0)")
[ "$established" = 1 ] && pass "responder: exactly the client's IKE SA established" || failed "responder ESTABLISHED: '$established'"
rss=$(awk '/VmRSS/ {print $2}' "/proc/$RPID/status" 2>/dev/null)
[ -n "$rss" ] && [ "$rss" -lt 200000 ] && pass "responder alive, RSS ${rss} kB" || failed "responder RSS '$rss' kB"

if [ "$FAILED" -gt 0 ]; then dump_logs "$D/resp.log" "$D/cli.log"; fi
kill_pid "$CPID" 5
kill_pid "$RPID" 5
[ "$FAILED" -eq 0 ]
