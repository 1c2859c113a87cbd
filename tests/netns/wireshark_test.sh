#!/usr/bin/env bash
# Wireshark test, mobiked <-> mobiked: a whole session is captured and every
# ESP packet of it must decrypt in tshark with the keys `mobikectl export-keys
# --wireshark DIR` writes (docs/wireshark.md).
#   a (initiator) has two links to b; b's IKE address 203.0.113.2 is on its lo,
#   routed over link 1 (metric 10) and link 2 (metric 20). Inner addresses
#   10.1.0.1 (a) and 10.2.0.1 (b). a's CHILD_SA has rekey_time = 3 s.
#   1. dumpcap on both of b's links; a initiates; UDP probes a -> b every 10 ms
#      and pings a -> b every 50 ms run through the tunnel for the whole session
#   2. the CHILD_SA is rekeyed (new SPIs; the old SA is deleted)
#   3. MOBIKE move: a's link-1 address is removed, the SA moves to link 2
#   4. traffic stops, the capture stops, then the keys are exported from a and
#      (separately) from b: each export alone must decrypt the capture:
#        - at least two CHILD_SAs (4 SPIs) and both links seen in ESP packets
#        - every ESP packet, of every SPI, decrypts to an inner IP packet
#        - no _ws.malformed and no expert error in the whole capture
#      both sides set daemon.export_ike_keys, so each export also holds the
#      ikev2_decryption_table: every encrypted IKE message (IKE_AUTH,
#      CREATE_CHILD_SA, INFORMATIONAL) must decrypt, IDi visible.
# Prints "N passed, N failed" last. Needs root, tshark and a build
# (MOBIKED_BIN, default build/release).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${MOBIKED_BIN:-build/release}
source tests/lib/netns.sh
netns_time_limit 80 "$0" "$@"
netns_init

PASSED=0
FAILED=0
FAILURES=()
pass() { PASSED=$((PASSED + 1)); log_info "PASS: $*"; }
failed() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); log_err "FAIL: $*"; }
finish() {
    echo
    for f in "${FAILURES[@]}"; do echo "FAILED: $f"; done
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
    exit
}
command -v tshark >/dev/null && command -v dumpcap >/dev/null || { failed "tshark/dumpcap not installed"; finish; }

A=$(ns_add a)
B=$(ns_add b)
ns_link "$A" "$B" 192.0.2.1/24 192.0.2.2/24 "" "" va1 vb1
ns_link "$A" "$B" 198.51.100.1/24 198.51.100.2/24 "" "" va2 vb2
ns_lo_addr "$B" 203.0.113.2/32
ip -n "$A" route add 203.0.113.2/32 via 192.0.2.2 dev va1 metric 10
ip -n "$A" route add 203.0.113.2/32 via 198.51.100.2 dev va2 metric 20
ns_lo_addr "$A" 10.1.0.1/32
ns_lo_addr "$B" 10.2.0.1/32
D=$(tmp_dir conf)
psk=$(openssl rand -hex 24)

# write_conf WHO LOCAL_ADDRS REMOTE LID RID LTS RTS CHILD_EXTRA
write_conf() {
    cat >"$D/$1.conf" <<CONF
daemon = { control_socket = "$D/$1.sock"; tun = "mkw$1"; log = { default = "info"; }; export_ike_keys = true; };
connections = {
  c = {
    local_addrs = [$2];
    remote_addrs = ["$3"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    mobike = true;
    local = { auth = "psk"; id = "$4"; };
    remote = { auth = "psk"; id = "$5"; };
    children = { net = { local_ts = ["$6"]; remote_ts = ["$7"]; esp_proposals = ["aes128gcm16"]; $8 }; };
  };
};
secrets = { p = { ids = ["$4", "$5"]; secret = "0x$psk"; }; };
CONF
}
write_conf a "" 203.0.113.2 a.example b.example 10.1.0.0/16 10.2.0.0/16 'rekey_time = 3; life_time = 120;'
write_conf b '"203.0.113.2"' "%any" b.example a.example 10.2.0.0/16 10.1.0.0/16 ''

ctl() { local who=$1; shift; "$BIN/mobikectl" --socket "$D/$who.sock" "$@"; }
sa_field() {
    ctl "$1" --json list-sas | python3 -c "import json,sys; s=json.load(sys.stdin)['ike_sas']; s=s[0] if s else {}; print($2)"
}
LOGS=("$D/a.log" "$D/b.log")

# ------------------------------------------------------------- 1. capture, establish, traffic
CAP=$D/session.pcapng
ns_wire_segments "$B" vb1 && ns_wire_segments "$B" vb2 || failed "gso_max_segs 1 on the captured links"
ns_spawn "$B" "$D/dumpcap.log" dumpcap -q -i vb1 -i vb2 -w "$CAP"
CAP_PID=$NS_LAST_PID
wait_for "[ -s '$CAP' ] || ! kill -0 $CAP_PID" 5 0.05 && kill -0 "$CAP_PID" 2>/dev/null \
    || { failed "dumpcap did not start"; dump_logs "$D/dumpcap.log"; finish; }
sleep 0.3

ns_spawn "$A" "$D/a.log" "$BIN/mobiked" --config "$D/a.conf" --foreground
ns_spawn "$B" "$D/b.log" "$BIN/mobiked" --config "$D/b.conf" --foreground
wait_for "[ -S $D/a.sock ] && [ -S $D/b.sock ]" 10 0.1 || { failed "daemons did not start"; dump_logs "${LOGS[@]}"; finish; }
if ctl a initiate --conn c --timeout 10 >/dev/null; then pass "session established"
else failed "initiate"; dump_logs "${LOGS[@]}"; finish; fi
SPI0=$(sa_field a "s['children'][0]['spi_in']")
log_info "first CHILD_SA: in $SPI0 out $(sa_field a "s['children'][0]['spi_out']")"

PORT=$((30000 + RANDOM % 10000))
probe_recv "$B" 10.2.0.1 "$PORT" 20 "$D/probe.out" || { failed "probe receiver"; finish; }
RX_PID=$NS_LAST_PID
probe_send "$A" 10.1.0.1 10.2.0.1 "$PORT" 1000 10 >"$D/probe.send" 2>&1 &
TX_PID=$!; track_pid "$TX_PID"
ip netns exec "$A" ping -q -c 200 -i 0.05 -W 1 -I 10.1.0.1 10.2.0.1 >"$D/ping.out" 2>&1 &
PING_PID=$!; track_pid "$PING_PID"

# ------------------------------------------------------------- 2. CHILD rekey
if wait_for "[ \"\$(sa_field a \"s['children'][0]['spi_in']\")\" != '$SPI0' ]" 8 0.1; then
    pass "CHILD_SA rekeyed: $SPI0 -> $(sa_field a "s['children'][0]['spi_in']") (rekey_time 3 s)"
else failed "no CHILD rekey within 8 s"; dump_logs "${LOGS[@]}"; fi
sleep 1

# ------------------------------------------------------------- 3. MOBIKE move
ns_addr_del "$A" va1 192.0.2.1/24
if wait_for "[ \"\$(sa_field a \"s['local'] if s.get('moves') and s['moves'][-1]['state'] == 'done' else ''\")\" = 198.51.100.1:4500 ]" 5 0.05; then
    pass "MOBIKE move to 198.51.100.1 confirmed"
else failed "no move: $(sa_field a "s.get('local'), s.get('moves')")"; dump_logs "${LOGS[@]}"; fi
sleep 1.5

# ------------------------------------------------------------- 4. stop, export, decrypt
kill_pid "$PING_PID" 2
kill_pid "$TX_PID" 2
sleep 0.2
kill_pid "$CAP_PID" 3
LOST=$(probe_result "$D/probe.out" lost "$RX_PID")
log_info "probes: $(tr '\n' ' ' <"$D/probe.out")"
log_info "CHILD_SA now in $(sa_field a "s['children'][0]['spi_in']") out $(sa_field a "s['children'][0]['spi_out']")"

PREFS=(-o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE -d "udp.port==$PORT,data")
# decrypt_check WHO — export WHO's keys and decrypt the whole capture with them alone
decrypt_check() {
    local who=$1 home; home=$(tmp_dir "home-$who"); mkdir -p "$home/.config"
    if ! ctl "$who" export-keys --wireshark "$home/.config/wireshark" >"$D/export-$who.out" 2>&1; then
        failed "$who: export-keys: $(cat "$D/export-$who.out")"; return
    fi
    local recs; recs=$(grep -vc '^#' "$home/.config/wireshark/esp_sa")
    log_info "$who: export-keys: $(tr '\n' ' ' <"$D/export-$who.out") ($recs records)"
    HOME=$home tshark -n -r "$CAP" "${PREFS[@]}" -Y esp -T fields -E separator=/t \
        -e esp.spi -e ip.src -e ip.dst -e frame.protocols -e esp.icv_good -e esp.icv_bad \
        >"$D/esp-$who.tsv" 2>"$D/tshark-$who.err"
    # per SPI: ESP packets, decrypted ones (an inner IP packet follows esp), address pairs
    local summary
    summary=$(python3 - "$D/esp-$who.tsv" <<'PY'
import sys, collections
per = collections.defaultdict(lambda: [0, 0, set(), 0, 0])
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t") + ["", ""]
    if len(f) < 6 or not f[0]:
        continue
    spi, src, dst, protos = f[0], f[1].split(",")[0], f[2].split(",")[0], f[3]
    p = per[spi]
    p[0] += 1
    # decrypted: an inner IP packet follows esp, and the ICV was not found bad
    if (":esp:ip:" in protos or ":esp:ipv6:" in protos) and f[5] not in ("1", "True"):
        p[1] += 1
    p[2].add(f"{src}>{dst}")
    p[3] += f[4] in ("1", "True")
    p[4] += f[5] in ("1", "True")
total = sum(p[0] for p in per.values())
dec = sum(p[1] for p in per.values())
icv_good = sum(p[3] for p in per.values())
bad = [s for s, p in per.items() if p[1] != p[0]]
pairs = set().union(*(p[2] for p in per.values())) if per else set()
print(len(per), total, dec, len(pairs), icv_good, ",".join(bad) or "-")
for s, p in sorted(per.items()):
    print(f"  SPI {s}: {p[0]} ESP, {p[1]} decrypted, ICV good {p[3]} bad {p[4]}, {' '.join(sorted(p[2]))}", file=sys.stderr)
PY
    2>"$D/esp-$who.spis")
    local spis total dec pairs icv bad
    read -r spis total dec pairs icv bad <<<"$summary"
    sed 's/^/    /' "$D/esp-$who.spis" >&2
    if [ "${spis:-0}" -ge 4 ] && [ "${pairs:-0}" -ge 4 ] && [ "${total:-0}" -gt 500 ] && [ "$total" = "$dec" ]; then
        pass "$who's keys: tshark decrypts all $total ESP packets of $spis SPIs (both links, before and after the rekey; ICV checked good on $icv)"
    else
        failed "$who's keys: $dec of $total ESP packets decrypted, $spis SPIs, $pairs address pairs, SPIs not fully decrypted: $bad"
    fi
    # IKE: every encrypted message (SK payload) decrypts with the ikev2_decryption_table
    local ike_enc ike_dec ike_idi
    ike_enc=$(HOME=$home tshark -n -r "$CAP" "${PREFS[@]}" -Y 'isakmp.exchangetype >= 35' 2>/dev/null | wc -l)
    ike_dec=$(HOME=$home tshark -n -r "$CAP" "${PREFS[@]}" -Y 'isakmp.exchangetype >= 35 && isakmp.enc.decrypted' \
        2>/dev/null | wc -l)
    ike_idi=$(HOME=$home tshark -n -r "$CAP" "${PREFS[@]}" -Y 'isakmp.exchangetype == 35 && isakmp.id.type' 2>/dev/null | wc -l)
    if [ -s "$home/.config/wireshark/ikev2_decryption_table" ] && [ "$ike_enc" -ge 6 ] && [ "$ike_enc" = "$ike_dec" ] \
        && [ "$ike_idi" -ge 2 ]; then
        pass "$who's keys: tshark decrypts all $ike_enc encrypted IKE messages (AUTH, CREATE_CHILD_SA, INFORMATIONAL; IDs in $ike_idi)"
    else failed "$who's keys: $ike_dec of $ike_enc encrypted IKE messages decrypted, IDs in $ike_idi"; fi
    local errs
    errs=$(HOME=$home tshark -n -r "$CAP" "${PREFS[@]}" -Y '_ws.malformed || _ws.expert.severity >= error' \
        -T fields -e frame.number -e frame.protocols -e _ws.expert.message 2>"$D/tshark-errs-$who.err")
    if [ -z "$errs" ]; then pass "$who's keys: no malformed packet and no expert error in the capture"
    else failed "$who's keys: tshark reports errors: $(head -3 <<<"$errs" | tr '\n' ' ')"; fi
}

total_frames=$(tshark -n -r "$CAP" 2>/dev/null | wc -l)
ike=$(tshark -n -r "$CAP" -Y isakmp 2>/dev/null | wc -l)
log_info "capture: $total_frames frames, $ike IKE"
decrypt_check a
decrypt_check b
# IKE: INIT, AUTH, CREATE_CHILD_SA (rekey), INFORMATIONAL (delete, MOBIKE) all present
ike_kinds=$(tshark -n -r "$CAP" -Y isakmp -T fields -e isakmp.exchangetype 2>/dev/null | sort -u | tr '\n' ' ')
if [ "$ike" -ge 8 ] && grep -qw 34 <<<"$ike_kinds" && grep -qw 35 <<<"$ike_kinds" && grep -qw 36 <<<"$ike_kinds" \
    && grep -qw 37 <<<"$ike_kinds"; then
    pass "IKE in the capture: $ike messages, exchange types $ike_kinds(INIT, AUTH, CREATE_CHILD_SA, INFORMATIONAL)"
else failed "IKE in the capture: $ike messages, exchange types $ike_kinds"; fi
RECEIVED=$(probe_result "$D/probe.out" received)
if [ "${LOST:-999}" -le 20 ] && [ "${RECEIVED:-0}" -gt 300 ]; then pass "probes through rekey and move: $RECEIVED received, $LOST lost"
else failed "probes: $RECEIVED received, $LOST lost"; fi
finish
