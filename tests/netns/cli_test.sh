#!/usr/bin/env bash
# mobikectl and the metrics endpoint against two mobiked in namespaces (a
# initiates to b over 192.0.2.0/24, CHILD_SA 10.10.1.1 <-> 10.10.2.1):
#   - mobiked --check-config on every config/examples/*.conf, and on a file
#     with several errors (all reported as FILE:LINE, exit 1)
#   - error exit codes and messages: daemon not reachable (3, names the
#     socket and how to start mobiked), usage (2), failed command (1)
#   - status, list-conns, list-sas, initiate, rekey (CHILD_SA and IKE SA),
#     monitor (JSON lines and human), terminate, load - human and --json
#   - GET /metrics (Prometheus text), 404/405/400/431 answers, a stalled
#     client does not block a scrape
# Prints "N passed, N failed". Needs root and a build (MOBIKED_BIN, default build/release).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${MOBIKED_BIN:-build/release}
source tests/lib/netns.sh
netns_time_limit 120 "$0" "$@"
netns_init

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); log_info "PASS: $*"; }
failed() { FAILED=$((FAILED + 1)); log_err "FAIL: $*"; }
report() { echo "$PASSED passed, $FAILED failed"; }
NS_EXIT_HOOK=report
# check DESCRIPTION CMD... — pass when CMD succeeds
check() { local what=$1; shift; if "$@"; then pass "$what"; else failed "$what"; fi; }

for b in mobiked mobikectl; do
    [ -x "$BIN/$b" ] || { failed "no $BIN/$b (build first, or set MOBIKED_BIN)"; exit 1; }
done
D=$(tmp_dir cli)

# ---------------------------------------------------------------- config check
log_step "mobiked --check-config on the shipped examples"
# Examples with certificates name them relative to the file: give each a
# throwaway PKI where it looks, so the real loader reads real files.
make_pki() {  # make_pki DIR
    local dir=$1
    mkdir -p "$dir/certs" "$dir/private" "$dir/cacerts"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Test CA" \
        -keyout "$dir/private/ca.key" -out "$dir/cacerts/ca.pem" >/dev/null 2>&1
    local n
    for n in gw client host-a host-b; do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n.company.com" \
            -keyout "$dir/private/$n.key" -out "$dir/$n.csr" >/dev/null 2>&1
        openssl x509 -req -in "$dir/$n.csr" -CA "$dir/cacerts/ca.pem" -CAkey "$dir/private/ca.key" \
            -CAcreateserial -days 2 -out "$dir/certs/$n.pem" >/dev/null 2>&1
    done
}
EX=$(tmp_dir examples)
make_pki "$EX"
n_examples=0
for f in config/examples/*.conf; do
    n_examples=$((n_examples + 1))
    cp "$f" "$EX/"
    name=$(basename "$f")
    if out=$("$BIN/mobiked" --check-config "$EX/$name" 2>&1) && grep -q "OK: " <<<"$out"; then
        pass "check-config $name: $out"
    else
        failed "check-config $name: $out"
    fi
done
[ "$n_examples" -ge 5 ] && pass "$n_examples example files" || failed "only $n_examples example files"

cat >"$D/broken.conf" <<'CONF'
daemon = {
  ike_port = 70000;
  metrics = "localhost:9464";
  log = { default = "loud"; vpn = "debug"; };
};
connections = {
  c = {
    remote_addrs = ["192.0.2.2"];
    proposals = ["aes128gcm16-prfsha256-nosuchgroup"];
    local = { auth = "psk"; id = "a"; };
    remote = { auth = "psk"; id = "b"; };
    typo_setting = 1;
  };
};
CONF
out=$("$BIN/mobiked" --check-config "$D/broken.conf" 2>&1); rc=$?
nerr=$(grep -c "^$D/broken.conf:[0-9]*: " <<<"$out")
if [ "$rc" = 1 ] && [ "$nerr" -ge 6 ]; then
    pass "check-config reports all $nerr errors with FILE:LINE, exit 1"
else
    failed "check-config broken.conf: rc=$rc, $nerr FILE:LINE errors: $out"
fi
check "check-config names the bad metrics address on its line" grep -q "broken.conf:3: 'metrics'" <<<"$out"
out=$("$BIN/mobiked" --check-config "$D/none.conf" 2>&1); rc=$?
check "check-config of a missing file: exit 1 with the path" test "$rc" = 1 -a -n "$(grep "$D/none.conf" <<<"$out")"

# ---------------------------------------------------------------- exit codes without a daemon
log_step "exit codes and messages without a daemon"
out=$("$BIN/mobikectl" --socket "$D/nothing.sock" status 2>&1); rc=$?
if [ "$rc" = 3 ] && grep -q "$D/nothing.sock" <<<"$out" && grep -q "mobiked -c" <<<"$out"; then
    pass "daemon not reachable: exit 3, names the socket and how to start mobiked"
else
    failed "daemon not reachable: rc=$rc: $out"
fi
out=$(MOBIKED_SOCKET="$D/nothing.sock" "$BIN/mobikectl" list-sas --json 2>&1); rc=$?
check "MOBIKED_SOCKET is used (exit 3 naming it)" test "$rc" = 3 -a -n "$(grep "$D/nothing.sock" <<<"$out")"
"$BIN/mobikectl" rekey >/dev/null 2>&1; rc=$?
check "rekey without --ike-id: usage error, exit 2" test "$rc" = 2
"$BIN/mobikectl" frobnicate >/dev/null 2>&1; rc=$?
check "unknown command: exit 2" test "$rc" = 2
help=$("$BIN/mobikectl" --help 2>&1)
check "mobikectl --help documents the exit codes" grep -q "3  mobiked not reachable" <<<"$help"
check "mobikectl --help lists rekey and monitor" grep -q "monitor" <<<"$help"
check "mobiked --help documents the log subsystems" grep -q "dp (data plane)" <<<"$("$BIN/mobiked" --help 2>&1)"

# ---------------------------------------------------------------- two daemons
log_step "start two mobiked"
A=$(ns_add a)
B=$(ns_add b)
ns_link "$A" "$B" 192.0.2.1/24 192.0.2.2/24 "" "" ethA ethB
ns_lo_addr "$A" 10.10.1.1/32
ns_lo_addr "$B" 10.10.2.1/32
psk=$(openssl rand -hex 24)
PORT=9464
write_conf() {  # write_conf WHO LOCAL REMOTE LOCAL_TS REMOTE_TS EXTRA_DAEMON EXTRA_CONN
    cat >"$D/$1.conf" <<CONF
daemon = { control_socket = "$D/$1.sock"; tun = "mkcli$1"; log = { default = "info"; ike = "debug"; }; $6 };
connections = {
  s2s = {
    local_addrs = ["$2"];
    remote_addrs = ["$3"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    local = { auth = "psk"; id = "$1.example"; };
    remote = { auth = "psk"; };
    children = { net = { local_ts = ["$4"]; remote_ts = ["$5"]; esp_proposals = ["aes128gcm16"]; rekey_time = "1h"; }; };
  };
  $7
};
secrets = { s = { ids = ["a.example", "b.example"]; secret = "0x$psk"; }; };
CONF
}
write_conf a 192.0.2.1 192.0.2.2 10.10.1.1/32 10.10.2.1/32 "metrics = \"127.0.0.1:$PORT\";" ""
write_conf b 192.0.2.2 %any 10.10.2.1/32 10.10.1.1/32 "" ""
declare -A NSOF=([a]=$A [b]=$B)
for who in a b; do
    rm -f "$D/$who.sock"
    ns_spawn "${NSOF[$who]}" "$D/$who.log" "$BIN/mobiked" --config "$D/$who.conf" --foreground
    wait_for "[ -S $D/$who.sock ]" 10 0.1 || fail "$who: no control socket" "$D/$who.log"
done
LOGS=("$D/a.log" "$D/b.log")
ctl() { local who=$1; shift; ip netns exec "${NSOF[$who]}" "$BIN/mobikectl" --socket "$D/$who.sock" "$@"; }
# json_of WHO ARGS...: mobikectl --json ARGS; py CODE: assert/print on the reply as j
json_of() { local who=$1; shift; ctl "$who" --json "$@" 2>/dev/null || true; }
py() { python3 -c "import json,sys; j=json.load(sys.stdin); $1"; }
metrics() { ip netns exec "$A" curl -s -m 5 "http://127.0.0.1:$PORT/metrics"; }
# metric NAME_WITH_LABELS — the value of one sample on a's endpoint
metric() { metrics | awk -v k="$1" '$1 == k { print $2 }'; }

# ---------------------------------------------------------------- status / list-conns
log_step "status and list-conns"
out=$(ctl a status); rc=$?
check "status (human): exit 0, version and IKE message section" test "$rc" = 0 -a -n "$(grep 'IKE messages' <<<"$out")"
check "status (human) shows the metrics endpoint" grep -q "metrics: http://127.0.0.1:$PORT/metrics" <<<"$out"
if json_of a status | py 'assert j["ok"] and "metrics" in j and j["metrics_endpoint"]=="127.0.0.1:'$PORT'" and "retransmits" in j["metrics"]'; then
    pass "status --json has metrics and metrics_endpoint"
else
    failed "status --json: $(json_of a status)"
fi
out=$(ctl a list-conns)
check "list-conns (human) shows s2s with its child" grep -q "^s2s: IKEv2" <<<"$out"
if json_of a list-conns | py 'c=j["connections"][0]; assert c["name"]=="s2s" and c["children"][0]["name"]=="net"'; then
    pass "list-conns --json"
else
    failed "list-conns --json: $(json_of a list-conns)"
fi
check "list-sas with no SAs says so" grep -q "no IKE SAs" <<<"$(ctl a list-sas)"

# ---------------------------------------------------------------- monitor + initiate
log_step "monitor, then initiate"
ip netns exec "$A" "$BIN/mobikectl" --socket "$D/a.sock" --json monitor --count 40 --timeout 60 >"$D/mon_a.json" 2>"$D/mon_a.err" &
MON_A=$!
track_pid "$MON_A"
ip netns exec "$B" "$BIN/mobikectl" --socket "$D/b.sock" monitor --count 2 --timeout 30 >"$D/mon_b.txt" 2>"$D/mon_b.err" &
MON_B=$!
track_pid "$MON_B"
sleep 0.3
out=$(ctl a initiate --conn s2s --timeout 10 2>&1); rc=$?
if [ "$rc" = 0 ] && grep -q "ESTABLISHED" <<<"$out"; then
    pass "initiate (human): ESTABLISHED"
else
    failed "initiate: rc=$rc: $out"; dump_logs "${LOGS[@]}"
fi
IKE=$(json_of a list-sas | py 'print(j["ike_sas"][0]["id"])')
CHILD=$(json_of a list-sas | py 'print(j["ike_sas"][0]["children"][0]["id"])')
log_info "IKE SA $IKE, CHILD_SA $CHILD"
ip netns exec "$A" ping -c 3 -i 0.2 -W 2 -I 10.10.1.1 10.10.2.1 >/dev/null 2>&1 \
    && pass "ping through the tunnel" || failed "ping through the tunnel"

out=$(ctl a list-sas)
check "list-sas (human): path" grep -q "'a.example' @ 192.0.2.1:[0-9]*" <<<"$out"
check "list-sas (human): IKE proposal" grep -q "AES_GCM_16_128" <<<"$out"
check "list-sas (human): IKE rekey time" grep -q "established [0-9]*s ago, rekeying in [0-9]*s" <<<"$out"
check "list-sas (human): CHILD_SA lifetimes" grep -q "installed [0-9]*s ago, rekeying in [0-9]*s, expires in [0-9]*s" <<<"$out"
check "list-sas (human): CHILD_SA counters" grep -qE "in  [0-9a-f]{8}, [0-9]+ bytes, 3 packets" <<<"$out"
if json_of a list-sas | py '
s=j["ike_sas"][0]; c=s["children"][0]
assert s["state"]=="ESTABLISHED" and s["rekey_in_s"]>0 and "moves" in s and s["local"].startswith("192.0.2.1")
assert c["rekey_in_s"]>0 and c["expires_in_s"]>=c["rekey_in_s"] and c["packets_out"]==3 and c["proposal"]'; then
    pass "list-sas --json: state, lifetimes, counters, moves"
else
    failed "list-sas --json: $(json_of a list-sas)"
fi
wait_for "[ \$(wc -l <$D/mon_b.txt) -ge 2 ]" 5 0.1
if wait "$MON_B" && grep -q "ike-established s2s\[#" "$D/mon_b.txt"; then
    pass "monitor (human) on the responder: 2 events then exit 0 ($(head -1 "$D/mon_b.txt"))"
else
    failed "monitor (human) on b: $(cat "$D/mon_b.txt" "$D/mon_b.err")"
fi

# ---------------------------------------------------------------- rekey
log_step "rekey"
out=$(ctl a rekey --ike-id "$IKE" --child-id "$CHILD" 2>&1); rc=$?
check "rekey CHILD_SA (human): exit 0" test "$rc" = 0 -a -n "$(grep "rekeying CHILD_SA $CHILD of IKE SA $IKE" <<<"$out")"
check "metrics: CHILD_SAs gauge" test "$(metric mobiked_child_sas)" = 1
wait_for "grep -q '\"event\":\"child-rekeyed\"' $D/mon_a.json" 10 0.1 \
    && pass "monitor saw child-rekeyed" || failed "no child-rekeyed event: $(cat "$D/mon_a.json")"
NEWCHILD=$(json_of a list-sas | py 'print(j["ike_sas"][0]["children"][-1]["id"])')
check "the CHILD_SA has a new id after the rekey ($CHILD -> $NEWCHILD)" test "$NEWCHILD" != "$CHILD"
if json_of a rekey --ike-id "$IKE" | py 'assert j["ok"] and j["ike_id"]=='"$IKE"' and j["child_id"] is None'; then
    pass "rekey IKE SA (--json)"
else
    failed "rekey IKE SA --json"
fi
wait_for "grep -q '\"event\":\"ike-rekeyed\"' $D/mon_a.json" 10 0.1 \
    && pass "monitor saw ike-rekeyed" || failed "no ike-rekeyed event: $(cat "$D/mon_a.json")"
sleep 0.5
NEWIKE=$(json_of a list-sas | py 'print(j["ike_sas"][-1]["id"])')
check "the IKE SA has a new id after the rekey ($IKE -> $NEWIKE)" test "$NEWIKE" != "$IKE"
# The CHILD_SAs an IKE rekey carried over belong to the new IKE SA: the old
# one's Delete must not take them (nor the traffic) along.
check "traffic flows after the IKE SA rekey" ip netns exec "$A" ping -c 2 -i 0.2 -W 1 -I 10.10.1.1 10.10.2.1
children_moved() {
    json_of a list-sas | py 'assert len(j["ike_sas"]) == 1 and len(j["ike_sas"][0]["children"]) == 1'
}
check "list-sas: the CHILD_SA moved to the new IKE SA" children_moved
out=$(ctl a rekey --ike-id 9999 2>&1); rc=$?
check "rekey of an unknown IKE SA: exit 1, points to list-sas" test "$rc" = 1 -a -n "$(grep 'no IKE SA 9999 (see mobikectl list-sas)' <<<"$out")"
out=$(ctl a rekey --ike-id "$NEWIKE" --child-id 9999 2>&1); rc=$?
check "rekey of an unknown CHILD_SA: exit 1" test "$rc" = 1 -a -n "$(grep 'has no CHILD_SA 9999' <<<"$out")"
json_of a rekey --ike-id 9999 | py 'assert not j["ok"] and "error" in j' \
    && pass "failed command with --json: ok=false and error" || failed "failed command --json"

# ---------------------------------------------------------------- metrics endpoint
log_step "metrics endpoint"
hdr=$(ip netns exec "$A" curl -s -m 5 -D - -o "$D/metrics.txt" "http://127.0.0.1:$PORT/metrics")
check "GET /metrics: 200 with the Prometheus content type" grep -qi "content-type: text/plain; version=0.0.4" <<<"$hdr"
check "metrics: one established IKE SA" test "$(metric 'mobiked_ike_sas{state="ESTABLISHED"}')" = 1
sent_cc=$(metric 'mobiked_ike_messages_total{exchange="CREATE_CHILD_SA",direction="sent",type="request"}')
check "metrics: CREATE_CHILD_SA requests sent ($sent_cc) >= 2 rekeys" test "${sent_cc:-0}" -ge 2
check "metrics: IKE_SA_INIT request counted" test "$(metric 'mobiked_ike_messages_total{exchange="IKE_SA_INIT",direction="sent",type="request"}')" -ge 1
check "metrics: retransmit counter present" test -n "$(metric mobiked_ike_retransmits_total)"
check "metrics: event counter ike-rekeyed" test "$(metric 'mobiked_events_total{kind="ike-rekeyed"}')" = 1
check "metrics: TUN packets counted" test "$(metric 'mobiked_tun_packets_total{direction="in"}')" -ge 3
check "metrics: move histogram present" grep -q '^mobiked_mobike_move_confirm_seconds_bucket{le="+Inf"} ' "$D/metrics.txt"
# Every sample line is NAME{labels} VALUE and its family has HELP and TYPE.
if python3 - "$D/metrics.txt" <<'PY'
import re, sys
helped, typed = set(), set()
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# HELP "): helped.add(line.split()[2]); continue
    if line.startswith("# TYPE "): typed.add(line.split()[2]); continue
    m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)', line)
    assert m, line
    float(m.group(3).replace("+Inf", "inf"))
    name = m.group(1)
    fam = name if name in typed else re.sub(r'_(bucket|sum|count)$', '', name)
    assert fam in typed and fam in helped, line
PY
then pass "metrics text parses as Prometheus exposition format"; else failed "metrics format"; fi
code=$(ip netns exec "$A" curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")
check "GET / -> 404" test "$code" = 404
code=$(ip netns exec "$A" curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$PORT/metrics")
check "POST /metrics -> 405" test "$code" = 405
if ip netns exec "$A" python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def ask(data):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        b = s.recv(65536)
        if not b: break
        out += b
    s.close()
    return out.split(b"\r\n", 1)[0]
assert ask(b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.0 400"), "garbage"
assert ask(b"GET /metrics HTTP/1.0\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n").startswith(b"HTTP/1.0 431"), "oversized"
# A client that connects and says nothing must not block a scrape.
stalled = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
t = time.time()
assert ask(b"GET /metrics HTTP/1.0\r\n\r\n") == b"HTTP/1.0 200 OK"
assert time.time() - t < 2
for s in stalled: s.close()
PY
then pass "bad request 400, oversized 431, stalled clients do not block a scrape"; else failed "HTTP edge cases"; fi
check "b has no metrics endpoint (off by default)" test -z "$(ip netns exec "$B" curl -s -m 2 "http://127.0.0.1:$PORT/metrics")"

# status shows the same counters
out=$(ctl a status)
check "status (human): retransmits and events lines" grep -q "retransmits: [0-9]* (" <<<"$out"
check "status (human): CREATE_CHILD_SA in the exchange counts" grep -q "sent: .*CREATE_CHILD_SA [0-9]*/" <<<"$out"
json_of a status | py 'assert j["metrics"]["ike_messages"]["sent"]["CREATE_CHILD_SA"]["request"] >= 2' \
    && pass "status --json: exchange counts" || failed "status --json exchange counts"

# ---------------------------------------------------------------- load
log_step "load"
write_conf a 192.0.2.1 192.0.2.2 10.10.1.1/32 10.10.2.1/32 "metrics = \"127.0.0.1:$PORT\";" \
    'extra = { remote_addrs = ["192.0.2.2"]; local = { auth = "psk"; id = "a.example"; }; remote = { auth = "psk"; }; };'
out=$(ctl a load 2>&1); rc=$?
check "load (human): 2 connections" test "$rc" = 0 -a -n "$(grep 'loaded 2 connections' <<<"$out")"
printf 'connections = { bad = { remote_addrs = ["nowhere"]; local = { auth = "psk"; }; }; };\n' >"$D/a.conf"
out=$(ctl a load 2>&1); rc=$?
if [ "$rc" = 1 ] && grep -q "$D/a.conf:1: " <<<"$out"; then
    pass "load of a broken file: exit 1 with FILE:LINE errors"
else
    failed "load broken: rc=$rc: $out"
fi
json_of a list-conns | py 'assert len(j["connections"]) == 2' \
    && pass "the old configuration stays after a failed load" || failed "configuration after a failed load"
json_of a load | py 'assert not j["ok"] and j["errors"]' && pass "load --json: errors array" || failed "load --json errors"

# ---------------------------------------------------------------- terminate
log_step "terminate"
out=$(ctl a terminate --conn s2s 2>&1); rc=$?
check "terminate --conn (human): exit 0" test "$rc" = 0 -a -n "$(grep 'delete sent' <<<"$out")"
wait_for "grep -q '\"event\":\"ike-deleted\"' $D/mon_a.json" 10 0.1 \
    && pass "monitor saw ike-deleted" || failed "no ike-deleted event"
wait_for "ctl a list-sas | grep -q 'no IKE SAs'" 10 0.2 && pass "list-sas empty after terminate" || failed "SAs left: $(ctl a list-sas)"
out=$(ctl a terminate --ike-id 9999 2>&1); rc=$?
check "terminate of an unknown IKE SA: exit 1" test "$rc" = 1

# ---------------------------------------------------------------- monitor output
kill_pid "$MON_A" 5
if python3 - "$D/mon_a.json" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
kinds = [e["event"] for e in events]
for k in ("ike-established", "child-established", "child-rekeyed", "ike-rekeyed", "ike-deleted"):
    assert k in kinds, (k, kinds)
est = next(e for e in events if e["event"] == "ike-established")
assert est["local"].startswith("192.0.2.1") and est["proposal"] and est["ts"] > 1.6e9 and est["error"] is False
PY
then pass "monitor --json: one JSON object per line with establish, rekey, delete"; else failed "monitor --json: $(cat "$D/mon_a.json")"; fi
out=$(ctl a monitor --count 1 --timeout 0.5 2>&1); rc=$?
check "monitor --count with --timeout passing: exit 4" test "$rc" = 4

for who in a b; do
    if grep -qiE "AddressSanitizer|runtime error|segfault" "$D/$who.log"; then failed "$who log has sanitizer/crash output"; fi
done
[ "$FAILED" = 0 ] || dump_logs "${LOGS[@]}"
[ "$FAILED" = 0 ]
