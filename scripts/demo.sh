#!/usr/bin/env bash
# The mobiked demo on its embedded default configuration (written below):
#
#        uplink 1  192.0.2.0/24                    lan 10.2.0.0/24
#   mn ==========================  gw  ----------------------------- srv
#      ==========================  203.0.113.1 (IKE, on lo)          10.2.0.10
#        uplink 2  198.51.100.0/24 pool 10.9.0.0/24
#
# A mobile node (mn) with two uplinks to a gateway (gw), a server (srv) behind
# the gateway. mobiked runs on gw and mn; mn establishes an IKE SA with MOBIKE
# and gets an inner address from the gateway's pool (Configuration Payload).
# A UDP probe every 5 ms runs from mn's inner address to the server through
# the tunnel (plus a few pings) while mn
#   1. loses its uplink-1 address: the address monitor notices, the path
#      manager moves the IKE SA and its CHILD_SA to uplink 2 (MOBIKE
#      UPDATE_SA_ADDRESSES), the SPIs stay the same;
#   2. gets its uplink-1 address back and is moved back (`mobikectl move`).
# A status table is printed every second; at the end: what was negotiated,
# each move's interruption (probes lost, longest gap, the engine's
# confirmation time) and a PNG timeline of the probe stream around the moves.
# The last line is `DEMO {json}` (checked by tests/netns/demo_test.sh).
#
# Needs root and a build (scripts/run-demo.sh does both). Bounded (85 s).
# Cleans up namespaces, processes (by PID), TUN devices and temp dirs on
# success, failure and Ctrl-C; the PNG (and, on failure, the logs) stay in
# $MOBIKED_DEMO_OUT (default /tmp/mobiked-demo).
# Environment: MOBIKED_BIN (default build/release), MOBIKED_DEMO_OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${MOBIKED_BIN:-build/release}
OUT=${MOBIKED_DEMO_OUT:-/tmp/mobiked-demo}
source tests/lib/netns.sh
netns_time_limit 85 "$0" "$@"
netns_init
T_START=$(date +%s%N)

REPORT=scripts/demo_report.py
PROBE_IV_MS=5
MOVE1_AT=4          # seconds into the probe stream
MOVE2_AT=10
RUN_FOR=15          # seconds of probes
PROBE_COUNT=$(( RUN_FOR * 1000 / PROBE_IV_MS ))
MN_UP1=192.0.2.10 GW_UP1=192.0.2.1
MN_UP2=198.51.100.10 GW_UP2=198.51.100.1
GW_IKE=203.0.113.1 SRV=10.2.0.10

# ------------------------------------------------------------- summary and cleanup
# The DEMO line is printed once: at the end of a good run, or by the exit hook
# (failure, Ctrl-C, time limit) with what is known so far.
DEMO_PRINTED=0
declare -A J=([ok]=false [tunnel_up]=false)
DAEMON_PIDS=()
demo_line() {
    J[ns_prefix]=$NS_PREFIX
    J[daemon_pids]="${DAEMON_PIDS[*]:-}"
    J[elapsed_s]=$(( ($(date +%s%N) - T_START) / 1000000000 ))
    local k args=()
    for k in "${!J[@]}"; do args+=("$k=${J[$k]}"); done
    python3 - "${args[@]}" <<'PY'
import json, sys
d = {}
for kv in sys.argv[1:]:
    k, v = kv.split("=", 1)
    if k in ("moves", "probes", "pings", "negotiated"):
        d[k] = json.loads(v) if v else None
    elif k == "daemon_pids":
        d[k] = [int(x) for x in v.split()]
    elif k == "tun":
        d[k] = v.split()
    elif v in ("true", "false"):
        d[k] = v == "true"
    else:
        try:
            d[k] = int(v)
        except ValueError:
            d[k] = v if v else None
print("DEMO " + json.dumps(d, sort_keys=True))
PY
    DEMO_PRINTED=1
}
demo_exit() {
    local rc=$1
    if [ "$rc" != 0 ] && [ -n "${NS_WORKDIR:-}" ] && [ -d "$NS_WORKDIR" ]; then
        mkdir -p "$OUT/logs" && cp -r "$NS_WORKDIR"/conf/*.log "$NS_WORKDIR"/conf/*.conf "$OUT/logs/" 2>/dev/null
        log_info "daemon logs copied to $OUT/logs"
    fi
    if [ "$DEMO_PRINTED" = 0 ]; then
        case $rc in
            130) J[error]=${DEMO_ERROR:-interrupted (SIGINT)} ;;
            143) J[error]=${DEMO_ERROR:-terminated (SIGTERM)} ;;
            *)   J[error]=${DEMO_ERROR:-exit status $rc} ;;
        esac
        demo_line
    fi
}
NS_EXIT_HOOK=demo_exit
# netns_cleanup keeps its work dir on failure; the logs were copied to $OUT
trap 'netns_cleanup; rc=$?; [ -n "${NS_WORKDIR:-}" ] && rm -rf "$NS_WORKDIR"; exit $rc' EXIT
die() { DEMO_ERROR=$1; shift; fail "$DEMO_ERROR" "$@"; }

for tool in python3 gnuplot; do command -v $tool >/dev/null || die "$tool missing (run scripts/install-deps.sh)"; done
[ -x "$BIN/mobiked" ] && [ -x "$BIN/mobikectl" ] || die "no build in $BIN (run scripts/build.sh release)"
mkdir -p "$OUT" || die "cannot create $OUT"
rm -f "$OUT/timeline.png" "$OUT/timeline.dat"
rm -rf "$OUT/logs"

# ------------------------------------------------------------- network
log_step "namespaces: gateway, mobile node (two uplinks), server"
GW=$(ns_add gw)
MN=$(ns_add mn)
SRVNS=$(ns_add srv)
ns_link "$MN" "$GW" "$MN_UP1/24" "$GW_UP1/24" "" "" up1 gw-up1 || die "uplink 1"
ns_link "$MN" "$GW" "$MN_UP2/24" "$GW_UP2/24" "" "" up2 gw-up2 || die "uplink 2"
ns_link "$GW" "$SRVNS" 10.2.0.1/24 "$SRV/24" "" "" lan srv0 || die "lan"
ns_lo_addr "$GW" "$GW_IKE/32"
ns_forwarding "$GW"
ip -n "$SRVNS" route add default via 10.2.0.1
# the gateway's IKE address over either uplink; uplink 1 preferred
route_up1() { ip -n "$MN" route replace "$GW_IKE/32" via "$GW_UP1" dev up1 metric 10; }
route_up1
ip -n "$MN" route add "$GW_IKE/32" via "$GW_UP2" dev up2 metric 20

D=$(tmp_dir conf)
psk=$(openssl rand -hex 24)
IKE_PROPOSAL=aes256gcm16-prfsha384-x25519
ESP_PROPOSAL=aes256gcm16
cat >"$D/gw.conf" <<CONF
daemon = { control_socket = "$D/gw.sock"; tun = "demo-gw"; log = { default = "info"; }; };
pools = { mobile = { addrs = "10.9.0.0/24"; }; };
connections = {
  mobile = {
    local_addrs = ["$GW_IKE"];
    pools = ["mobile"];
    proposals = ["$IKE_PROPOSAL"];
    mobike = true;
    local = { auth = "psk"; id = "gw.example.net"; };
    remote = { auth = "psk"; id = "mn@example.net"; };
    children = { lan = { local_ts = ["10.2.0.0/24"]; remote_ts = ["dynamic"]; esp_proposals = ["$ESP_PROPOSAL"]; }; };
  };
};
secrets = { demo = { ids = ["mn@example.net", "gw.example.net"]; secret = "0x$psk"; }; };
CONF
cat >"$D/mn.conf" <<CONF
daemon = { control_socket = "$D/mn.sock"; tun = "demo-mn"; log = { default = "info"; }; };
connections = {
  office = {
    remote_addrs = ["$GW_IKE"];
    vips = ["0.0.0.0"];
    proposals = ["$IKE_PROPOSAL"];
    mobike = true;
    local = { auth = "psk"; id = "mn@example.net"; };
    remote = { auth = "psk"; id = "gw.example.net"; };
    children = { lan = { local_ts = ["dynamic"]; remote_ts = ["10.2.0.0/24"]; esp_proposals = ["$ESP_PROPOSAL"]; }; };
  };
};
secrets = { demo = { ids = ["mn@example.net", "gw.example.net"]; secret = "0x$psk"; }; };
CONF
J[tun]="demo-gw demo-mn"
LOGS=("$D/gw.log" "$D/mn.log")

log_step "starting mobiked on the gateway and the mobile node"
ns_spawn "$GW" "$D/gw.log" "$BIN/mobiked" --config "$D/gw.conf" --foreground
DAEMON_PIDS+=("$NS_LAST_PID")
ns_spawn "$MN" "$D/mn.log" "$BIN/mobiked" --config "$D/mn.conf" --foreground
DAEMON_PIDS+=("$NS_LAST_PID")
wait_for "[ -S $D/gw.sock ] && [ -S $D/mn.sock ]" 10 0.1 || die "daemons did not start" "${LOGS[@]}"

# mobikectl only needs the control socket (a path), not the namespace
ctl() { local who=$1; shift; "$BIN/mobikectl" --socket "$D/$who.sock" "$@"; }
sas_json() { ctl "$1" --json list-sas 2>/dev/null; }
# sa_field WHO PY_EXPR — PY_EXPR with s = the first IKE SA of list-sas --json ({} if none)
sa_field() {
    sas_json "$1" | python3 -c "import json,sys; s=json.load(sys.stdin)['ike_sas']; s=s[0] if s else {}; print($2)" 2>/dev/null
}

# ------------------------------------------------------------- tunnel
log_step "mobile node initiates (IKE_SA_INIT, IKE_AUTH with a CHILD_SA and an inner address)"
start=$(date +%s%N)
ctl mn initiate --conn office --timeout 10 >"$D/initiate.out" 2>&1 || die "initiate failed: $(tail -1 "$D/initiate.out")" "${LOGS[@]}"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
J[establish_ms]=$elapsed_ms
spis_mn=$(sa_field mn "s['spi_i'], s['spi_r'], s['children'][0]['spi_in'], s['children'][0]['spi_out']")
spis_gw=$(sa_field gw "s['spi_i'], s['spi_r'], s['children'][0]['spi_out'], s['children'][0]['spi_in']")
[ -n "$spis_mn" ] && [ "$spis_mn" = "$spis_gw" ] || die "the two sides disagree: '$spis_mn' vs '$spis_gw'" "${LOGS[@]}"
VIP=$(sa_field mn "(s.get('local_vips') or [''])[0]")
[ -n "$VIP" ] || die "no inner address from the gateway's pool" "${LOGS[@]}"
IKE_ID=$(sa_field mn "s['id']")
J[tunnel_up]=true
J[vip]=$VIP
J[spis]="$spis_mn"
J[negotiated]=$(sas_json mn | python3 -c '
import json, sys
s = json.load(sys.stdin)["ike_sas"][0]; c = s["children"][0]
print(json.dumps({"ike": s["proposal"], "esp": c["proposal"], "mode": c["mode"], "udp_encap": c["udp_encap"],
                  "mobike": s["mobike"], "local_ts": c["local_ts"], "remote_ts": c["remote_ts"]}))')
log_info "tunnel up in $elapsed_ms ms: $(sa_field mn "s['local']") -> $(sa_field mn "s['remote']"), inner address $VIP, SPIs $spis_mn"

ping_check() {  # ping_check WHAT — 3 pings from the inner address to the server
    local out rx
    out=$(ip netns exec "$MN" ping -c 3 -i 0.2 -W 1 -I "$VIP" "$SRV" 2>&1)
    rx=$(grep -o '[0-9]* received' <<<"$out" | awk '{print $1}')
    PINGS_SENT=$((PINGS_SENT + 3)); PINGS_RX=$((PINGS_RX + ${rx:-0}))
    log_info "ping $SRV from $VIP ($1): ${rx:-0}/3 replies $(grep -o 'rtt.*' <<<"$out")"
}
PINGS_SENT=0 PINGS_RX=0
ping_check "before the moves"

# ------------------------------------------------------------- traffic and moves
log_step "UDP probe $VIP -> $SRV every $PROBE_IV_MS ms for $RUN_FOR s; moves at ${MOVE1_AT} s and ${MOVE2_AT} s"
PORT=$((30000 + RANDOM % 10000))
PROBE=$D/probe
rm -f "$PROBE.out" "$PROBE.ready" "$PROBE.log"
ns_spawn "$SRVNS" "$PROBE.rx" python3 tests/lib/udp_probe.py recv --bind "$SRV" --port "$PORT" \
    --duration $((RUN_FOR + 8)) --out "$PROBE.out" --expect "$PROBE_COUNT" --ready "$PROBE.ready" --log "$PROBE.log"
RX_PID=$NS_LAST_PID
wait_for "[ -e '$PROBE.ready' ]" 5 0.05 || die "probe receiver did not start" "$PROBE.rx"
T0=$(date +%s%N)
ns_spawn "$MN" "$PROBE.send" python3 tests/lib/udp_probe.py send --src "$VIP" --dst "$SRV" --port "$PORT" \
    --count "$PROBE_COUNT" --interval-ms "$PROBE_IV_MS"
TX_PID=$NS_LAST_PID
: >"$D/moves"

move1() {
    echo "uplink1_to_uplink2 $(date +%s%N) $MN_UP2" >>"$D/moves"
    ns_addr_del "$MN" up1 "$MN_UP1/24"
}
move2() {
    # uplink 1 is back (address and route); then the move is asked for explicitly
    ns_addr "$MN" up1 "$MN_UP1/24"
    route_up1
    echo "uplink2_to_uplink1 $(date +%s%N) $MN_UP1" >>"$D/moves"
    ctl mn move --ike-id "$IKE_ID" --local "$MN_UP1" >"$D/move2.out" 2>&1 || log_warn "mobikectl move: $(cat "$D/move2.out")"
}

sleep_until() {  # sleep_until EPOCH_NS
    local now; now=$(date +%s%N)
    [ "$now" -lt "$1" ] && sleep "$(awk -v n=$(($1 - now)) 'BEGIN{printf "%.3f", n/1e9}')"
    return 0
}
# the moves run on their own schedule, the status table on its own
(
    sleep_until $(( T0 + MOVE1_AT * 1000000000 ))
    echo "        >>> move 1: uplink-1 address $MN_UP1 removed (MOBIKE via the address monitor)"; move1
    sleep_until $(( T0 + MOVE2_AT * 1000000000 ))
    echo "        >>> move 2: uplink-1 address back, mobikectl move --local $MN_UP1"; move2
) &
SCENARIO_PID=$!
track_pid "$SCENARIO_PID"
echo
python3 "$REPORT" header
for ((tick = 1; tick <= RUN_FOR + 3; tick++)); do
    sleep_until $(( T0 + tick * 1000000000 ))
    sas_json mn | python3 "$REPORT" tick --t0 "$T0" --log "$PROBE.log"
    [ "$tick" -ge "$RUN_FOR" ] && ! kill -0 "$TX_PID" 2>/dev/null && break
done
wait "$SCENARIO_PID" 2>/dev/null
echo
kill_pid "$TX_PID" 2
kill_pid "$RX_PID" 3
ping_check "after the moves"
J[pings]="{\"sent\": $PINGS_SENT, \"received\": $PINGS_RX}"

# ------------------------------------------------------------- results
echo "=== mobile node: mobikectl list-sas"
ctl mn list-sas
echo
echo "=== gateway: mobikectl list-sas"
ctl gw list-sas
echo
spis_now=$(sa_field mn "s['spi_i'], s['spi_r'], s['children'][0]['spi_in'], s['children'][0]['spi_out']")
spis_gw=$(sa_field gw "s['spi_i'], s['spi_r'], s['children'][0]['spi_out'], s['children'][0]['spi_in']")
[ "$spis_now" = "$spis_gw" ] || die "the two sides disagree after the moves: $spis_now vs $spis_gw" "${LOGS[@]}"
echo "Both sides agree on IKE SPIs and CHILD_SA SPIs ($spis_now)$([ "$spis_now" = "$spis_mn" ] && echo ', unchanged by the moves')."
J[spis_unchanged]=$([ "$spis_now" = "$spis_mn" ] && echo true || echo false)
python3 -c '
import json, sys
n = json.loads(sys.argv[1])
print("Negotiated: IKE %s, ESP %s (%s mode, UDP-encapsulated: %s), MOBIKE: %s, %s <-> %s" % (
    n["ike"], n["esp"], n["mode"], "yes" if n["udp_encap"] else "no", "yes" if n["mobike"] else "no",
    " ".join(n["local_ts"]), " ".join(n["remote_ts"])))' "${J[negotiated]}"
echo "Tunnel established in $elapsed_ms ms (control request to established, both daemons on one host); inner address $VIP."
echo "Pings $VIP -> $SRV: $PINGS_RX of $PINGS_SENT answered."
echo
echo "=== interruption per move (UDP probes every $PROBE_IV_MS ms; counted from 0.2 s before to 1 s after each move)"
# wait (bounded) until the engine confirmed the last move, for its took_ms
wait_for "[ \"\$(sa_field mn \"s['moves'][-1]['state'] if s.get('moves') else ''\")\" = done ]" 3 0.1 || true
sas_json mn >"$D/mn-sas.json"
PNG=$OUT/timeline.png
python3 "$REPORT" report --log "$PROBE.log" --moves "$D/moves" --sas "$D/mn-sas.json" --out "$OUT" \
    --png "$PNG" --interval-ms "$PROBE_IV_MS" --t0 "$T0" >"$D/report.out" 2>&1
grep -v '^DEMO_MOVES ' "$D/report.out"
moves_json=$(sed -n 's/^DEMO_MOVES //p' "$D/report.out")
[ -n "$moves_json" ] || die "no move report" "$D/report.out"
J[moves]=$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])["moves"]))' "$moves_json")
J[probes]=$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])["probes"]))' "$moves_json")
png=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["png"] or "")' "$moves_json")
[ -n "${SUDO_UID:-}" ] && chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$OUT" 2>/dev/null
if [ -n "$png" ]; then
    J[png]=$png
    echo
    echo "Timeline of the probe stream around the moves: $png"
else
    log_warn "no PNG timeline (gnuplot failed, see above)"
fi
J[ok]=$(python3 -c '
import json, sys
m = json.loads(sys.argv[1])["moves"]
print("true" if len(m) == 2 and all(x["state"] == "done" and x["flowing_after"] > 0 for x in m) else "false")' "$moves_json")
echo
demo_line
[ "${J[ok]}" = true ]
