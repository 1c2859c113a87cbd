#!/bin/bash
# bench/handshake/run.sh — IKE handshake benchmark: mobiked vs strongSwan 5.9 as responders,
# driven by the same engine-based load generator (bench_handshake) in the same run.
#
# Topology: namespace "lg" (load generator, SOURCES addresses 10.64.0.1.. on its veth) and
# namespace "rsp" (responder, 10.64.255.1) joined by a veth. The generator establishes COUNT
# IKE_SAs (each with one CHILD_SA; PSK, aes128gcm16-prfsha256-x25519, ESP aes128gcm16,
# MOBIKE off), WINDOW handshakes in flight, against (a) mobiked and (b) strongSwan with
# kernel-libipsec (CHILD_SAs installed into its user-space SAD). Both responders fake a NAT
# (strongSwan's libipsec needs UDP encapsulation; mobiked: encap = true), so IKE_AUTH runs on
# port 4500 in both cases and both install UDP-encapsulated CHILD_SAs.
# Before each throughput run an unloaded latency run (window 1, LAT_COUNT handshakes)
# measures IKE_SA_INIT request -> IKE_AUTH response on the wire.
# Nothing is deleted: each responder holds LAT_COUNT + COUNT SAs when it is stopped.
#
# CPU placement (fairness): the responder (all its threads) is pinned to CPU RESP_CPU and
# the generator to GEN_CPU (different cores), so each responder gets one whole core and the
# generator never competes with it. PIN=0 disables pinning. The machine is shared (other
# builds run beside us), so generator and responder run at NICE (default -10) for the few
# seconds of each run; responder CPU time per IKE_SA is reported too, as it depends far less
# on background load than the rate does.
#
# Environment: COUNT [5000], WINDOW [128], SOURCES [64], LAT_COUNT [300], GEN_CPU [0],
# RESP_CPU [1], PIN [1], SS_THREADS [16], LOG=audit|quiet|debug [audit: both log SA up events],
# ONLY=mobiked|strongswan, BUILD_DIR [build/bench], KEEP=1 keeps the work dir,
# GEN_WRAP="perf record -g -o F --" wraps the generator, PERF=1 records `perf record -g` of the mobiked responder into the work dir.
# Must run as root. Last line: BENCH {json}. Total time bounded (TIME_LIMIT, 170 s).
# shellcheck source-path=SCRIPTDIR
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIB=$ROOT/tests/lib
# shellcheck source=../../tests/lib/netns.sh
. "$LIB/netns.sh"
netns_time_limit "${TIME_LIMIT:-170}" "$0" "$@"
# shellcheck source=../../tests/lib/strongswan.sh
. "$LIB/strongswan.sh"

COUNT=${COUNT:-5000}
WINDOW=${WINDOW:-128}
SOURCES=${SOURCES:-64}
LAT_COUNT=${LAT_COUNT:-300}
GEN_CPU=${GEN_CPU:-0}
RESP_CPU=${RESP_CPU:-1}
PIN=${PIN:-1}
NICE=${NICE:--10}
SS_THREADS=${SS_THREADS:-16}
LOG=${LOG:-audit}
ONLY=${ONLY:-}
PERF=${PERF:-0}
BUILD_DIR=${BUILD_DIR:-$ROOT/build/bench}
GEN=$BUILD_DIR/bench_handshake
MOBIKED=$BUILD_DIR/mobiked
RUN_LIMIT=${RUN_LIMIT:-60}   # seconds per generator run (hard limit inside the generator)

PSK=mobiked-bench-psk-0123456789abcdef
RSP_ID=responder@bench
LG_ID=loadgen@bench
RSP_ADDR=10.64.255.1
SRC_BASE=10.64.0.1
IKE_PROP=aes128gcm16-prfsha256-x25519
ESP_PROP=aes128gcm16

for tool in ip unshare timeout taskset python3 swanctl "$SS_CHARON"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing tool: $tool (run scripts/install-deps.sh)" >&2; exit 2; }
done
[ -x "$GEN" ] || { echo "missing $GEN: cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build/bench bench_handshake mobiked" >&2; exit 2; }
if [ "$ONLY" != strongswan ] && [ ! -x "$MOBIKED" ]; then
    echo "missing $MOBIKED (ninja -C build/bench mobiked); ONLY=strongswan runs strongSwan alone" >&2; exit 2
fi
if [ "$SOURCES" -lt 1 ] || [ "$SOURCES" -gt 250 ]; then echo "SOURCES must be 1..250" >&2; exit 2; fi

# shellcheck disable=SC2034  # read by netns_cleanup
NS_KEEP_WORKDIR=${KEEP:-0}
netns_init mkbh$$-
W=$NS_WORKDIR

# With sched_autogroup (on here) nice values only rank processes within one session's
# autogroup, so the priority of our session's autogroup is raised to NICE for the run and
# restored on exit (it holds only this script and the processes it starts).
AG_OLD=
restore_autogroup() { [ -n "$AG_OLD" ] && echo "$AG_OLD" >/proc/$$/autogroup 2>/dev/null; return 0; }
if [ "$NICE" != 0 ] && [ -w /proc/$$/autogroup ]; then
    AG_OLD=$(awk '{print $NF}' /proc/$$/autogroup)
    if echo "$NICE" >/proc/$$/autogroup 2>/dev/null; then
        NS_EXIT_HOOK=restore_autogroup
        log_info "session autogroup priority: nice $NICE (was $AG_OLD): $(cat /proc/$$/autogroup)"
    else
        AG_OLD=
    fi
fi

pin() {  # pin CPU CMD... (prefix): CPU pinning when PIN=1, priority NICE
    local cpu=$1; shift
    if [ "$PIN" = 1 ]; then nice -n "$NICE" taskset -c "$cpu" "$@"; else nice -n "$NICE" "$@"; fi
}
pin_pid() {  # pin_pid CPU PID: all threads of PID (pinning when PIN=1, priority NICE)
    local t
    for t in /proc/"$2"/task/*; do renice -n "$NICE" -p "${t##*/}" >/dev/null 2>&1; done
    [ "$PIN" = 1 ] || return 0
    taskset -a -p -c "$1" "$2" >/dev/null || log_warn "could not pin pid $2"
}

# ------------------------------------------------------------------ topology
log_step "namespaces: generator ($SOURCES source addresses) <-> responder $RSP_ADDR"
LG=$(ns_add lg) || fail "ns_add lg"
RSP=$(ns_add rsp) || fail "ns_add rsp"
ns_link "$LG" "$RSP" "$SRC_BASE/16" "$RSP_ADDR/16" "" "" vlg vrsp || fail "ns_link"
base_last=${SRC_BASE##*.}; base_pre=${SRC_BASE%.*}
for ((i = 1; i < SOURCES; i++)); do
    ns_addr "$LG" vlg "$base_pre.$((base_last + i))/16" || fail "address $i"
done
# inner address inside the responder's local_ts: strongSwan's kernel-libipsec needs a local
# address in the TS to install its route via ipsec0 (else "unable to install IPsec policies")
ns_lo_addr "$RSP" 10.2.0.1/32 || fail "inner address"
ns_exec "$LG" ping -c 1 -W 2 "$RSP_ADDR" >/dev/null || fail "no connectivity to $RSP_ADDR"

# gen LABEL OUTFILE ARGS... — run the generator pinned in the load namespace; prints its
# human lines to stderr and leaves the JSON line in OUTFILE.
gen() {
    local label=$1 outf=$2; shift 2
    # shellcheck disable=SC2086  # GEN_WRAP is a word list on purpose (e.g. "perf record -g -o F --")
    pin "$GEN_CPU" ip netns exec "$LG" timeout -k 2 $((RUN_LIMIT + 10)) ${GEN_WRAP:-} "$GEN" --target "$RSP_ADDR" --port 500 \
        --source-base "$SRC_BASE" --sources "$SOURCES" --duration "$RUN_LIMIT" --label "$label" \
        --psk "$PSK" --id "$LG_ID" --remote-id "$RSP_ID" --ike "$IKE_PROP" --esp "$ESP_PROP" \
        --local-ts 10.1.0.0/16 --remote-ts 10.2.0.0/16 --json "$@" >"$outf.txt" 2>&1
    local rc=$?
    grep -v '^{' "$outf.txt" | sed 's/^/    /' >&2
    grep '^{' "$outf.txt" | tail -1 >"$outf"
    [ -s "$outf" ] || { cat "$outf.txt" >&2; return 1; }
    return $rc
}

# bench_one NAME PID — latency run, then throughput run, against the running responder.
bench_one() {
    local name=$1 pid=$2
    log_step "$name: latency run (window 1, $LAT_COUNT handshakes)"
    gen "$name-latency" "$W/$name.lat.json" --count "$LAT_COUNT" --window 1 \
        || log_warn "$name latency run incomplete"
    kill -0 "$pid" 2>/dev/null || fail "$name responder died" "$W/$name.log"
    log_step "$name: throughput run ($COUNT handshakes, window $WINDOW, $SOURCES sources)"
    local cpu0 cpu1 wait0 wait1
    cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    wait0=$(cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{s += $2} END {print s + 0}')
    gen "$name" "$W/$name.json" --count "$COUNT" --window "$WINDOW" || log_warn "$name throughput run incomplete"
    cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    wait1=$(cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{s += $2} END {print s + 0}')
    log_info "$name responder: waited $(awk -v a="$wait0" -v b="$wait1" 'BEGIN{printf "%.2f", (b - a) / 1e9}') s on a run queue (CPU taken by other processes) during the run"
    kill -0 "$pid" 2>/dev/null || fail "$name responder died" "$W/$name.log"
    local rss
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    local ticks; ticks=$(getconf CLK_TCK)
    log_info "$name responder: CPU time during the throughput run $(awk -v t="$((cpu1 - cpu0))" -v h="$ticks" 'BEGIN{printf "%.2f", t/h}') s, RSS ${rss} kB with $((LAT_COUNT + COUNT)) SAs"
    printf '{"cpu_s": %s, "rss_kb": %s}\n' "$(awk -v t="$((cpu1 - cpu0))" -v h="$ticks" 'BEGIN{printf "%.3f", t/h}')" "${rss:-0}" >"$W/$name.res"
}

# ------------------------------------------------------------------ mobiked
run_mobiked() {
    local d=$W/mobiked; mkdir -p "$d"
    local lvl=info
    [ "$LOG" = quiet ] && lvl=error
    [ "$LOG" = debug ] && lvl=debug
    cat >"$d/mobiked.conf" <<EOC
# bench/handshake: mobiked responder
daemon = {
  control_socket = "$d/control.sock";
  cookie_threshold = 1000000;   # half-open SAs before cookies are demanded (default 1000)
  log = { default = "$lvl"; };
};
connections = {
  bench = {
    local_addrs = ["$RSP_ADDR"];
    remote_addrs = ["%any"];
    proposals = ["$IKE_PROP"];
    mobike = false;
    encap = true;                 # fake NAT like strongSwan's kernel-libipsec: IKE_AUTH on 4500, UDP-encapsulated ESP
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
    log_step "mobiked configuration ($d/mobiked.conf):"
    sed 's/^/    /' "$d/mobiked.conf" >&2
    "$MOBIKED" --check-config "$d/mobiked.conf" >"$d/check.out" 2>&1 || fail "mobiked config rejected" "$d/check.out"
    # shellcheck disable=SC2086  # MOBIKED_WRAP is a word list (e.g. "valgrind --tool=callgrind --callgrind-out-file=F")
    ns_spawn "$RSP" "$W/mobiked.log" ${MOBIKED_WRAP:-} "$MOBIKED" --config "$d/mobiked.conf" --foreground
    local pid=$NS_LAST_PID
    wait_for "[ -S '$d/control.sock' ] || ! kill -0 $pid" 30 0.05
    if ! kill -0 "$pid" 2>/dev/null || [ ! -S "$d/control.sock" ]; then fail "mobiked did not start" "$W/mobiked.log"; fi
    pin_pid "$RESP_CPU" "$pid"
    local perf_pid=
    if [ "$PERF" = 1 ] && command -v perf >/dev/null; then
        perf record -F 2999 -g -p "$pid" -o "$W/mobiked.perf.data" >"$W/perf.log" 2>&1 &
        perf_pid=$!; track_pid "$perf_pid"
    fi
    bench_one mobiked "$pid"
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null; wait "$perf_pid" 2>/dev/null
        perf report -i "$W/mobiked.perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null \
            | grep -v '^#' | grep '%' | cut -c1-160 | head -40 >"$W/mobiked.perf.txt"
        log_info "perf profile (self time, top symbols) of mobiked:"
        head -25 "$W/mobiked.perf.txt" | sed 's/^/    /' >&2
    fi
    kill_pid "$pid" 5
}

# ------------------------------------------------------------------ strongSwan
run_strongswan() {
    local d=$W/strongswan
    local lv="default = 0"
    [ "$LOG" = quiet ] && lv="default = -1"
    [ "$LOG" = debug ] && lv="default = 1, cfg = 2, ike = 2, chd = 2, knl = 2"
    # Tuning (strongswan.conf charon.*): defaults throttle a load generator -
    # ikesa_table_size 1 (one hash bucket!), block_threshold 5 half-open SAs per IP,
    # cookie_threshold 10 half-open SAs, init_limit_* (off by default; set explicitly).
    local tune="    threads = $SS_THREADS
    ikesa_table_size = 32768
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
        loglevels="$lv" charon_extra="$tune" ike_extra="        unique = never
        send_certreq = no" || fail "ss_conf"
    log_step "strongSwan configuration ($d/strongswan.conf, $d/swanctl/swanctl.conf):"
    sed 's/^/    /' "$d/strongswan.conf" >&2
    sed -e 's/^/    /' -e 's/secret = .*/secret = <psk>/' "$d/swanctl/swanctl.conf" >&2
    ss_start "$d" "$RSP" 15 || fail "charon did not start" "$d/charon.out" "$d/charon.log"
    ss_load "$d" >"$d/load.out" 2>&1 || fail "swanctl --load-all failed" "$d/load.out" "$d/charon.log"
    local pid; pid=$(cat "$d/pid")
    pin_pid "$RESP_CPU" "$pid"
    bench_one strongswan "$pid"
    local n; n=$(ss_ctl "$d" --stats 2>/dev/null | awk '/IKE_SAs:/ {print $2; exit}')
    log_info "strongSwan reports ${n:-?} IKE_SAs"
    kill_pid "$pid" 20   # charon takes several seconds to tear down thousands of SAs
}

[ "$ONLY" = strongswan ] || run_mobiked
[ "$ONLY" = mobiked ] || run_strongswan

# ------------------------------------------------------------------ summary
log_step "summary"
python3 - "$W" "$COUNT" "$WINDOW" "$SOURCES" "$PIN" "$GEN_CPU" "$RESP_CPU" <<'EOP'
import json, os, sys
w, count, window, sources, pin, gcpu, rcpu = sys.argv[1:]
def load(name):
    p = os.path.join(w, name)
    try:
        with open(p) as f:
            return json.loads(f.read().strip() or "null")
    except (OSError, ValueError):
        return None
r = {}
res = {}
for n in ("mobiked", "strongswan"):
    r[n] = (load(n + ".json"), load(n + ".lat.json"))
    res[n] = load(n + ".res")
print(f"setup: {count} IKE_SAs per responder (+ latency run), window {window}, {sources} source addresses, "
      + (f"generator on CPU {gcpu}, responder on CPU {rcpu}" if pin == "1" else "no CPU pinning"))
for n, (t, l) in r.items():
    if t:
        print(f"{n:10s}: {t['ike_sa_per_s']:8.0f} IKE_SA/s sustained, {t['ike_sa_per_s_whole_run']:.0f} over the whole run "
              f"({t['established']} ok, {t['failed']} failed, {t['retransmits']} retransmits, {t['elapsed_s']:.2f} s); loaded IKE_SA_INIT->IKE_AUTH median {t['wire_ms_median']:.3f} ms, "
              f"p99 {t['wire_ms_p99']:.3f} ms")
        if res[n] and t['established']:
            print(f"{n:10s}: responder CPU {1e6 * res[n]['cpu_s'] / t['established']:.0f} us per IKE_SA "
                  f"({res[n]['cpu_s']:.2f} s), generator CPU {1e6 * t['generator_cpu_s'] / t['established']:.0f} us "
                  f"per IKE_SA, responder RSS {res[n]['rss_kb']} kB")
    if l:
        print(f"{n:10s}: unloaded (window 1) IKE_SA_INIT request -> IKE_AUTH response median "
              f"{l['wire_ms_median']:.3f} ms, p90 {l['wire_ms_p90']:.3f} ms, p99 {l['wire_ms_p99']:.3f} ms")
def get(n, i, k):
    x = r[n][i]
    return round(x[k], 4) if x else None
m, s = get("mobiked", 0, "ike_sa_per_s"), get("strongswan", 0, "ike_sa_per_s")
ratio = round(m / s, 2) if m and s else None
if ratio is not None:
    print(f"ratio mobiked / strongSwan: {ratio:.2f}x")
bench = {
    "mobiked_ike_sa_per_s": m,
    "strongswan_ike_sa_per_s": s,
    "ratio_vs_strongswan": ratio,
    "wire_ms_median": get("mobiked", 1, "wire_ms_median"),
    "strongswan_wire_ms_median": get("strongswan", 1, "wire_ms_median"),
}
print("BENCH " + json.dumps(bench))
EOP
