#!/bin/bash
# bench/handshake/many.sh — many-tunnels run (issue 4): one responder holds N concurrent IKE
# SAs, each with one CHILD_SA; reports the responder's resident memory per SA and the time to
# rekey every CHILD_SA. mobiked, then (if it fits) strongSwan 5.9 with kernel-libipsec, in the
# same run, driven by the same engine-based load generator (bench_handshake --hold).
#
#   sudo bench/handshake/many.sh [--quick] [N]      # N defaults to 100000, --quick = 5000
#
# Topology and setup as bench/handshake/run.sh (namespaces "lg" and "rsp", veth, PSK,
# aes128gcm16-prfsha256-x25519, ESP aes128gcm16 tunnel, encap = true, MOBIKE off, generator
# and responder pinned to different cores). The generator is a separate process in another
# namespace, so its own memory (it holds the initiator side of every SA) is not measured.
#
# Memory: VmRSS of the responder process (/proc/PID/status) with its connection loaded and
# no SA, and again holding N SAs (after a 2 s settle); bytes_per_sa = delta / N. This is
# resident memory, so it includes malloc's overhead and fragmentation, the SA tables, log
# buffers - everything the daemon pays per SA - not only the engine heap (bench_ike_memory).
# mobiked runs without `tun` (no user-space dataplane: CHILD_SAs are negotiated and
# counted, no ESP state is kept; with TUN=1 it runs its dataplane on a TUN device and the
# RSS includes the user-space SAD). strongSwan's kernel-libipsec keeps its CHILD_SAs in
# charon's memory (user-space SAD with AEAD contexts), so its figure includes ESP state.
#
# Rekey: the generator (the IKE SAs' initiator) rekeys the CHILD_SA of every IKE SA
# (CREATE_CHILD_SA with REKEY_SA, then the INFORMATIONAL deleting the old CHILD_SA), at most
# WINDOW IKE SAs in flight; rekey_all_s runs from the first CREATE_CHILD_SA sent to
# the last DELETE answered. The responder's work per rekey (decrypt, negotiate, derive, install,
# delete) is what is timed; the generator runs on the other core. Driving the rekeys through
# mobiked's control socket (`mobikectl rekey`, responder-initiated) would time one client
# process per CHILD_SA and the other direction of the exchange, not the responder's work.
# A config with short lifetimes would measure the jitter spread, not the rekey cost.
#
# Environment: N (or the argument), WINDOW [256] handshakes (and rekeys) in flight,
# SOURCES [64], SS=auto|0|1 [auto: strongSwan when SS_COUNT > 0], SS_COUNT [min(N, 20000):
# charon sets up ~950 IKE_SA/s, 100 000 would take ~2 min more], TUN=1, LOG=quiet|info
# [quiet], GEN_CPU [0], RESP_CPU [1], BUILD_DIR / MOBIKED_BIN [build/bench], KEEP=1.
# Must run as root. Last line: BENCH {json} (sas_held, bytes_per_sa, rekey_all_s, ...).
# shellcheck source-path=SCRIPTDIR
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIB=$ROOT/tests/lib
# shellcheck source=../../tests/lib/netns.sh
. "$LIB/netns.sh"
netns_time_limit "${TIME_LIMIT:-420}" "$0" "$@"
# shellcheck source=../../tests/lib/strongswan.sh
. "$LIB/strongswan.sh"

N=${N:-100000}
for a in "$@"; do
    case $a in
        --quick) N=5000 ;;
        --many) ;;
        [0-9]*) N=$a ;;
        -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
        *) echo "unknown argument $a" >&2; exit 2 ;;
    esac
done
WINDOW=${WINDOW:-256}
SOURCES=${SOURCES:-64}
GEN_CPU=${GEN_CPU:-0}
RESP_CPU=${RESP_CPU:-1}
LOG=${LOG:-quiet}
TUN=${TUN:-0}
SS_COUNT=${SS_COUNT:-$((N < 20000 ? N : 20000))}
SS=${SS:-auto}
[ "$SS" = auto ] && { [ "$SS_COUNT" -gt 0 ] && SS=1 || SS=0; }
BUILD_DIR=${BUILD_DIR:-${MOBIKED_BIN:-$ROOT/build/bench}}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
GEN=$BUILD_DIR/bench_handshake
MOBIKED=$BUILD_DIR/mobiked

PSK=mobiked-bench-psk-0123456789abcdef
RSP_ID=responder@bench
LG_ID=loadgen@bench
RSP_ADDR=10.64.255.1
SRC_BASE=10.64.0.1
IKE_PROP=aes128gcm16-prfsha256-x25519
ESP_PROP=aes128gcm16

for tool in ip taskset python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing tool: $tool" >&2; exit 2; }
done
if [ "$SS" = 1 ] && ! command -v swanctl >/dev/null 2>&1; then
    log_warn "swanctl missing: strongSwan part skipped"; SS=0
fi
for b in "$GEN" "$MOBIKED"; do
    [ -x "$b" ] || { echo "missing $b (cmake --build $BUILD_DIR --target bench_handshake mobiked)" >&2; exit 2; }
done

# shellcheck disable=SC2034  # read by netns_cleanup
NS_KEEP_WORKDIR=${KEEP:-0}
netns_init mkbm$$-
W=$NS_WORKDIR
T0=$SECONDS

log_step "namespaces: generator ($SOURCES source addresses) <-> responder $RSP_ADDR; N = $N"
LG=$(ns_add lg) || fail "ns_add lg"
RSP=$(ns_add rsp) || fail "ns_add rsp"
ns_link "$LG" "$RSP" "$SRC_BASE/16" "$RSP_ADDR/16" "" "" vlg vrsp || fail "ns_link"
base_last=${SRC_BASE##*.}; base_pre=${SRC_BASE%.*}
for ((i = 1; i < SOURCES; i++)); do
    ns_addr "$LG" vlg "$base_pre.$((base_last + i))/16" || fail "address $i"
done
ns_lo_addr "$RSP" 10.2.0.1/32 || fail "inner address"
ns_exec "$LG" ping -c 1 -W 2 "$RSP_ADDR" >/dev/null || fail "no connectivity to $RSP_ADDR"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null; }
mobiked_status_sas() {  # SOCKET — "N IKE SAs (by state)" from the status command
    ip netns exec "$RSP" python3 - "$1" <<'EOP'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(20); s.connect(sys.argv[1])
s.sendall(b'{"cmd":"status"}\n'); buf = b""
while not buf.endswith(b"\n"):
    d = s.recv(65536)
    if not d: break
    buf += d
j = json.loads(buf)
print(f"{j.get('ike_sas')} IKE SAs {json.dumps(j.get('ike_sas_by_state'))}")
EOP
}
json_line() { grep '^{' "$1" 2>/dev/null | grep -F "\"phase\":\"$2\"" | tail -1; }

# many_one NAME PID COUNT — establish COUNT SAs against the responder PID, measure its RSS
# delta, rekey every CHILD_SA, write NAME.res (JSON).
many_one() {
    local name=$1 pid=$2 count=$3 out=$W/$1.gen
    sleep 1
    local rss0; rss0=$(rss_kb "$pid")
    log_step "$name: establishing $count IKE SAs (window $WINDOW); responder RSS before: $rss0 kB"
    local limit=$((count / 500 + 60))
    ip netns exec "$LG" nice -n -5 taskset -c "$GEN_CPU" "$GEN" --target "$RSP_ADDR" --port 500 \
        --source-base "$SRC_BASE" --sources "$SOURCES" --duration "$limit" --label "$name" \
        --psk "$PSK" --id "$LG_ID" --remote-id "$RSP_ID" --ike "$IKE_PROP" --esp "$ESP_PROP" \
        --local-ts 10.1.0.0/16 --remote-ts 10.2.0.0/16 --json --count "$count" --window "$WINDOW" \
        --hold --hold-max $((limit + 200)) >"$out" 2>&1 </dev/null &
    local gpid=$!; track_pid "$gpid"
    wait_for "grep -q '^{\"label\"' '$out' || ! kill -0 $gpid" "$((limit + 10))" 0.2
    grep -v '^{' "$out" | sed 's/^/    /' >&2
    kill -0 "$gpid" 2>/dev/null || fail "$name: generator exited" "$out"
    kill -0 "$pid" 2>/dev/null || fail "$name responder died"
    local est; est=$(grep '^{"label"' "$out" | head -1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["established"])')
    sleep 2   # settle: last IKE_AUTHs processed, malloc trims
    local rss1 hwm1; rss1=$(rss_kb "$pid"); hwm1=$(hwm_kb "$pid")
    if [ "$name" = mobiked ]; then   # what the responder itself holds
        local held; held=$(mobiked_status_sas "$W/mobiked/control.sock")
        log_info "$name: the responder reports $held"
        # count what the responder holds established (the generator may have timed out on some)
        local e; e=$(printf '%s\n' "$held" | sed -n 's/.*"ESTABLISHED": \([0-9]*\).*/\1/p')
        [ -n "$e" ] && est=$e
    fi
    log_info "$name: holding $est SAs: RSS $rss1 kB (peak $hwm1 kB), +$((rss1 - rss0)) kB = $(( (rss1 - rss0) * 1024 / (est > 0 ? est : 1) )) bytes per SA"
    log_step "$name: rekeying every CHILD_SA (generator-initiated, $WINDOW in flight)"
    local lines0; lines0=$(wc -l <"$out")
    kill -USR1 "$gpid"
    wait_for "grep -q '\"phase\":\"rekey\"' '$out' || ! kill -0 $gpid" 200 0.2
    tail -n +"$((lines0 + 1))" "$out" | grep -v '^{' | sed 's/^/    /' >&2
    sleep 1
    local rss2; rss2=$(rss_kb "$pid")
    log_info "$name: after the rekeys: RSS $rss2 kB"
    python3 - "$out" "$rss0" "$rss1" "$hwm1" "$rss2" "$est" >"$W/$name.res" <<'EOP'
import json, sys
out, rss0, rss1, hwm1, rss2, est = sys.argv[1:]
lines = [json.loads(l) for l in open(out) if l.startswith("{")]
est_j = next((l for l in lines if "phase" not in l), {})
rk = next((l for l in lines if l.get("phase") == "rekey"), {})
est = int(est)
print(json.dumps({"sas_held": est, "rss0_kb": int(rss0), "rss_kb": int(rss1), "hwm_kb": int(hwm1),
                  "rss_after_rekey_kb": int(rss2),
                  "bytes_per_sa": round((int(rss1) - int(rss0)) * 1024 / est) if est else None,
                  "ike_sa_per_s": est_j.get("ike_sa_per_s"), "rekeyed": rk.get("rekeyed"),
                  "rekey_failed": rk.get("rekey_failed"), "rekey_all_s": rk.get("rekey_all_s")}))
EOP
    kill_pid "$gpid" 5
}

run_mobiked() {
    local d=$W/mobiked; mkdir -p "$d"
    local lvl=error tun='tun = "";'
    [ "$LOG" = info ] && lvl=info
    [ "$TUN" = 1 ] && tun='tun = "mkbm0";'
    cat >"$d/mobiked.conf" <<EOC
daemon = {
  control_socket = "$d/control.sock";
  cookie_threshold = 1000000;
  $tun
  log = { default = "$lvl"; };
};
connections = {
  bench = {
    local_addrs = ["$RSP_ADDR"];
    remote_addrs = ["%any"];
    proposals = ["$IKE_PROP"];
    mobike = false;
    encap = true;
    send_certreq = false;
    local = { auth = "psk"; id = "$RSP_ID"; };
    remote = { auth = "psk"; id = "$LG_ID"; };
    children = {
      net = {
        local_ts = ["10.2.0.0/16"];
        remote_ts = ["10.1.0.0/16"];
        esp_proposals = ["$ESP_PROP"];
        mode = "tunnel";
      };
    };
  };
};
secrets = {
  bench = { ids = ["$LG_ID", "$RSP_ID"]; secret = "$PSK"; };
};
EOC
    "$MOBIKED" --check-config "$d/mobiked.conf" >"$d/check.out" 2>&1 || fail "mobiked config rejected" "$d/check.out"
    ns_spawn "$RSP" "$W/mobiked.log" taskset -c "$RESP_CPU" "$MOBIKED" --config "$d/mobiked.conf" --foreground
    local pid=$NS_LAST_PID
    wait_for "[ -S '$d/control.sock' ] || ! kill -0 $pid" 30 0.05
    [ -S "$d/control.sock" ] || fail "mobiked did not start" "$W/mobiked.log"
    many_one mobiked "$pid" "$N"
    kill_pid "$pid" 10
}

run_strongswan() {
    local d=$W/strongswan
    local tune="    threads = 16
    ikesa_table_size = 131072
    ikesa_table_segments = 16
    init_limit_half_open = 1000000
    init_limit_job_load = 1000000
    block_threshold = 1000000
    cookie_threshold = 1000000
    cookie_threshold_ip = 1000000
    half_open_timeout = 30
    reuse_ikesa = no"
    ss_conf "$d" role=responder conn=bench child=net local_addrs="$RSP_ADDR" remote_addrs=%any \
        local_id="$RSP_ID" remote_id="$LG_ID" psk="$PSK" ike_proposal="$IKE_PROP" esp_proposal="$ESP_PROP" \
        local_ts=10.2.0.0/16 remote_ts=10.1.0.0/16 mode=tunnel mobike=no install_routes=no \
        loglevels="default = -1" charon_extra="$tune" ike_extra="        unique = never
        send_certreq = no" || fail "ss_conf"
    ss_start "$d" "$RSP" 15 || fail "charon did not start" "$d/charon.out" "$d/charon.log"
    ss_load "$d" >"$d/load.out" 2>&1 || fail "swanctl --load-all failed" "$d/load.out" "$d/charon.log"
    local pid; pid=$(cat "$d/pid")
    taskset -a -p -c "$RESP_CPU" "$pid" >/dev/null || log_warn "could not pin charon"
    many_one strongswan "$pid" "$SS_COUNT"
    kill_pid "$pid" 30
}

run_mobiked
if [ "$SS" = 1 ]; then
    if [ $((SECONDS - T0)) -gt 200 ]; then log_warn "strongSwan part skipped (time)"; else run_strongswan; fi
fi

log_step "summary ($((SECONDS - T0)) s)"
python3 - "$W" "$N" "$TUN" <<'EOP'
import json, os, sys
w, n, tun = sys.argv[1:]
def load(name):
    try:
        return json.load(open(os.path.join(w, name + ".res")))
    except (OSError, ValueError):
        return None
m, s = load("mobiked"), load("strongswan")
for name, r in (("mobiked", m), ("strongswan", s)):
    if r:
        print(f"{name:10s}: {r['sas_held']} IKE SAs + CHILD_SAs held, RSS {r['rss0_kb']} -> {r['rss_kb']} kB "
              f"(peak {r['hwm_kb']} kB): {r['bytes_per_sa']} bytes per SA; rekeyed {r['rekeyed']} CHILD_SAs "
              f"({r['rekey_failed']} failed) in {r['rekey_all_s']} s; RSS after {r['rss_after_rekey_kb']} kB")
m = m or {}
bench = {"sas_held": m.get("sas_held"), "bytes_per_sa": m.get("bytes_per_sa"), "rekey_all_s": m.get("rekey_all_s"),
         "rekeyed": m.get("rekeyed"), "ike_sa_per_s": m.get("ike_sa_per_s"), "rss_kb": m.get("rss_kb"),
         "dataplane": tun == "1"}
if s:
    bench.update({"strongswan_sas_held": s["sas_held"], "strongswan_bytes_per_sa": s["bytes_per_sa"],
                  "strongswan_rekey_all_s": s["rekey_all_s"]})
print("BENCH " + json.dumps(bench))
EOP
