# shellcheck shell=bash
# tests/lib/netns.sh — network-namespace helpers for mobiked system and interop tests.
#
# Source it from a bash test script (must run as root):
#     . "$(dirname "$0")/../lib/netns.sh"
#     netns_init            # per-run prefix, work dir, trap EXIT INT TERM -> netns_cleanup
#     A=$(ns_add a); B=$(ns_add b)
#     ns_link "$A" "$B" 192.0.2.1/24 192.0.2.2/24 2001:db8:1::1/64 2001:db8:1::2/64
#
# Rules this library enforces or helps with: namespaces carry a unique per-run prefix
# (default "mk<PID>-"), every background process started through ns_spawn/track_pid is
# killed by PID (TERM, then KILL after a bounded wait), every namespace created through
# ns_add is deleted, all waits are bounded in count and time.
#
# Public functions (see tests/interop/README.md for the full list):
#   netns_init [PREFIX]           set NS_PREFIX, make NS_WORKDIR, install trap
#   ns_name SHORT                 print "$NS_PREFIX$SHORT"
#   ns_add SHORT                  create namespace, lo up, DAD off, promote_secondaries on; print name
#   ns_del NS                     delete one namespace (kills its left-over processes)
#   ns_exec NS CMD...             run CMD inside NS
#   ns_link NSA NSB [A4] [B4] [A6] [B6] [IFA] [IFB]   veth pair with addresses, DAD off
#   ns_addr NS DEV ADDR/PLEN      add an address (IPv6: nodad)
#   ns_lo_addr NS ADDR/PLEN       add an inner address on lo
#   ns_route NS DEST VIA [DEV]    add a route
#   ns_forwarding NS              enable IPv4/IPv6 forwarding in NS
#   ns_addr_del NS DEV ADDR/PLEN  remove an address (MOBIKE moves)
#   ns_link_set NS DEV up|down    set a link up or down
#   ns_drop NS PERCENT [MATCH] [DIR]   nftables: drop PERCENT % of packets matching MATCH (nft, default
#                                 "meta l4proto udp") in DIR in|out|both; PERCENT 0 removes them
#   ns_spawn NS LOGFILE CMD...    start CMD in NS in the background, record PID in NS_LAST_PID
#   ns_capture NS IFACE FILE [FILTER]   dumpcap on IFACE in NS into FILE (pcapng); PID in NS_LAST_PID
#   probe_recv NS BIND PORT DURATION_S OUT [EXPECT]   start udp_probe.py receiver (NS_LAST_PID)
#   probe_send NS SRC DST PORT COUNT INTERVAL_MS      run udp_probe.py sender (foreground)
#   probe_result OUT KEY [PID]    wait for the receiver's summary (TERM to PID if given), print KEY
#   track_pid PID                 record a PID started some other way, for cleanup
#   kill_pid PID [WAIT_S]         TERM, wait (bounded), then KILL one PID
#   wait_for CMD TIMEOUT_S [INTERVAL_S]   poll CMD (eval'd) until success or timeout
#   netns_time_limit SECONDS "$0" "$@"    re-exec the calling script under timeout(1)
#   netns_cleanup                 kill recorded PIDs, delete namespaces (trap handler);
#                                 first calls the function named in NS_EXIT_HOOK, if set
#   log_info/log_warn/log_err MSG, log_step MSG
#   fail MSG [LOGFILE...]         print MSG, dump the log files, exit 1
#   dump_logs FILE...             print the last NS_DUMP_LINES (200) lines of each file
#   tmp_dir NAME                  make and print "$NS_WORKDIR/NAME"

# ---------------------------------------------------------------- state
NS_PREFIX=${NS_PREFIX:-}
NS_WORKDIR=${NS_WORKDIR:-}
NS_KEEP_WORKDIR=${NS_KEEP_WORKDIR:-0}   # 1: keep the work dir (logs) after cleanup
NS_EXIT_HOOK=${NS_EXIT_HOOK:-}          # function run first by netns_cleanup (gets the exit status)
# Records live in files under NS_WORKDIR so that calls made in a subshell, e.g.
# A=$(ns_add a), are still cleaned up: $NS_WORKDIR/.namespaces and $NS_WORKDIR/.pids.
_NS_CLEANED=0
_NS_T0=${_NS_T0:-$(date +%s%N)}

# ---------------------------------------------------------------- logging
_ns_elapsed() {
    # seconds since the library was sourced, 2 decimals
    local d=$(( ($(date +%s%N) - _NS_T0) / 10000000 ))
    printf '%d.%02d' $((d / 100)) $((d % 100))
}
log_info() { printf '[%s] %s\n' "$(_ns_elapsed)" "$*" >&2; }
log_warn() { printf '[%s] WARN: %s\n' "$(_ns_elapsed)" "$*" >&2; }
log_err()  { printf '[%s] ERROR: %s\n' "$(_ns_elapsed)" "$*" >&2; }
log_step() { printf '[%s] === %s\n' "$(_ns_elapsed)" "$*" >&2; }

# dump_logs FILE... — print each file (last NS_DUMP_LINES lines, default 200) to stderr
dump_logs() {
    local f n=${NS_DUMP_LINES:-200}
    for f in "$@"; do
        [ -n "$f" ] || continue
        if [ -f "$f" ]; then
            printf -- '----- %s (last %d lines) -----\n' "$f" "$n" >&2
            tail -n "$n" "$f" >&2
        else
            printf -- '----- %s (missing) -----\n' "$f" >&2
        fi
    done
}

# fail MSG [LOGFILE...] — report, dump logs, exit 1 (the EXIT trap cleans up)
fail() {
    local msg=$1; shift || true
    log_err "$msg"
    dump_logs "$@"
    exit 1
}

# ---------------------------------------------------------------- init / cleanup
# netns_time_limit SECONDS SCRIPT ARGS... — call first thing in a test script:
#     netns_time_limit 60 "$0" "$@"
# re-execs SCRIPT under `timeout -k 5 SECONDS` once (guarded by _NS_TIME_LIMITED), so a hung
# test gets TERM (the EXIT trap then cleans up) and KILL 5 s later. Exit status 124 = timeout.
netns_time_limit() {
    local secs=$1; shift
    if [ -z "${_NS_TIME_LIMITED:-}" ]; then
        export _NS_TIME_LIMITED=1
        exec timeout -k 5 "$secs" bash "$@"
    fi
}

# netns_init [PREFIX] — choose the per-run prefix, create the work dir, install traps.
netns_init() {
    if [ "$(id -u)" != 0 ]; then
        echo "netns.sh: must run as root" >&2; exit 1
    fi
    NS_PREFIX=${1:-${NS_PREFIX:-mk$$-}}
    if [ -z "$NS_WORKDIR" ]; then
        NS_WORKDIR=$(mktemp -d "/tmp/${NS_PREFIX%-}.XXXXXX")
    else
        mkdir -p "$NS_WORKDIR"
    fi
    trap 'netns_cleanup' EXIT
    trap 'log_warn "interrupted"; exit 130' INT
    trap 'log_warn "terminated"; exit 143' TERM
}

tmp_dir() { local d="$NS_WORKDIR/$1"; mkdir -p "$d" && printf '%s\n' "$d"; }

# track_pid PID — record a PID for cleanup
track_pid() { printf '%s\n' "$1" >>"$NS_WORKDIR/.pids"; }

# kill_pid PID [WAIT_S] — TERM, poll up to WAIT_S (default 3) seconds, then KILL.
kill_pid() {
    local pid=$1 wait_s=${2:-3} i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log_warn "pid $pid did not exit after TERM, sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
    # reap it if it is our child (ignore status)
    wait "$pid" 2>/dev/null || true
    return 0
}

# netns_cleanup — kill recorded PIDs (newest first), delete our namespaces (every one whose
# name starts with the per-run prefix, recorded or not). Idempotent.
netns_cleanup() {
    local rc=$?
    [ "$_NS_CLEANED" = 1 ] && return "$rc"
    _NS_CLEANED=1
    set +e
    local pid ns
    [ -n "$NS_EXIT_HOOK" ] && "$NS_EXIT_HOOK" "$rc"
    if [ -n "$NS_WORKDIR" ] && [ -f "$NS_WORKDIR/.pids" ]; then
        for pid in $(tac "$NS_WORKDIR/.pids"); do kill_pid "$pid" 3; done
        : >"$NS_WORKDIR/.pids"
    fi
    if [ -n "$NS_PREFIX" ]; then
        for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | tac); do
            case $ns in "$NS_PREFIX"*) ns_del "$ns" ;; esac
        done
    fi
    if [ -n "$NS_WORKDIR" ] && [ -d "$NS_WORKDIR" ]; then
        if [ "$NS_KEEP_WORKDIR" = 1 ] || [ "$rc" != 0 ]; then
            log_info "logs kept in $NS_WORKDIR"
        else
            rm -rf "$NS_WORKDIR"
        fi
    fi
    return "$rc"
}

# ---------------------------------------------------------------- namespaces
ns_name() { printf '%s%s\n' "$NS_PREFIX" "$1"; }

# ns_add SHORT — create "$NS_PREFIX$SHORT", bring lo up, print the full name.
ns_add() {
    [ -n "$NS_PREFIX" ] || { echo "ns_add: call netns_init first" >&2; return 1; }
    local ns="$NS_PREFIX$1"
    ip netns add "$ns" || return 1
    printf '%s\n' "$ns" >>"$NS_WORKDIR/.namespaces"
    ip -n "$ns" link set lo up
    # make IPv6 addresses usable at once (no DAD); promote_secondaries: deleting an interface's
    # first IPv4 address must not delete the others in the same subnet (a MOBIKE move adds
    # the new address, then deletes the old one)
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
        net.ipv6.conf.default.accept_dad=0 \
        net.ipv6.conf.all.dad_transmits=0 net.ipv6.conf.default.dad_transmits=0 \
        net.ipv4.conf.all.promote_secondaries=1 net.ipv4.conf.default.promote_secondaries=1 >/dev/null 2>&1
    printf '%s\n' "$ns"
}

# ns_del NS — kill any process still inside NS (by PID), then delete it.
ns_del() {
    local ns=$1 pids p
    ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$ns" || return 0
    pids=$(ip netns pids "$ns" 2>/dev/null)
    for p in $pids; do kill_pid "$p" 2; done
    ip netns del "$ns" 2>/dev/null || log_warn "could not delete namespace $ns"
}

ns_exec() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ns_addr NS DEV ADDR/PLEN — add an address; IPv6 gets nodad so it is usable at once.
ns_addr() {
    local ns=$1 dev=$2 a=$3
    case $a in
        *:*) ip -n "$ns" -6 addr add "$a" dev "$dev" nodad ;;
        *)   ip -n "$ns" addr add "$a" dev "$dev" ;;
    esac
}

# ns_lo_addr NS ADDR/PLEN — inner address on lo (no dummy interfaces on these kernels).
ns_lo_addr() { ns_addr "$1" lo "$2"; }

# ns_route NS DEST VIA [DEV]
ns_route() {
    local ns=$1 dst=$2 via=$3 dev=${4:-}
    local fam=-4; case $dst$via in *:*) fam=-6 ;; esac
    if [ -n "$dev" ]; then ip -n "$ns" $fam route add "$dst" via "$via" dev "$dev"
    else ip -n "$ns" $fam route add "$dst" via "$via"; fi
}

ns_forwarding() {
    ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null
}

ns_addr_del() {
    local ns=$1 dev=$2 a=$3
    case $a in *:*) ip -n "$ns" -6 addr del "$a" dev "$dev" ;; *) ip -n "$ns" addr del "$a" dev "$dev" ;; esac
}

ns_link_set() { ip -n "$1" link set "$2" "$3"; }

# ns_drop NS PERCENT [MATCH] [DIR] — random loss with nftables (no netem on these kernels):
# drop PERCENT % of the packets matching MATCH (nft expression, default "meta l4proto udp";
# e.g. "udp dport 4500", "ip protocol icmp") in direction
# DIR: in, out or both (default; each direction loses PERCENT % independently). Uses its own
# table "mktest"; PERCENT 0 deletes the table, 100 drops everything matching.
ns_drop() {
    local ns=$1 pct=$2 match=${3:-meta l4proto udp} dir=${4:-both} verdict rules=''
    ip netns exec "$ns" nft delete table inet mktest 2>/dev/null
    [ "$pct" -gt 0 ] || return 0
    if [ "$pct" -ge 100 ]; then verdict="$match drop"
    else verdict="$match numgen random mod 100 < $pct drop"; fi
    case $dir in
        in|both)  rules+="    chain in  { type filter hook input  priority -10; $verdict; }
" ;;
    esac
    case $dir in
        out|both) rules+="    chain out { type filter hook output priority -10; $verdict; }
" ;;
    esac
    printf 'table inet mktest {\n%s}\n' "$rules" | ip netns exec "$ns" nft -f -
}

# ns_link NSA NSB [A4] [B4] [A6] [B6] [IFA] [IFB]
# veth pair IFA (in NSA) <-> IFB (in NSB), up, with optional addresses ("" to skip).
# Interface names default to "v-<short of other ns>" (max 15 chars). DAD is off.
ns_link() {
    local a=$1 b=$2 a4=${3:-} b4=${4:-} a6=${5:-} b6=${6:-}
    local ifa=${7:-} ifb=${8:-}
    [ -n "$ifa" ] || ifa="v${b#"$NS_PREFIX"}"
    [ -n "$ifb" ] || ifb="v${a#"$NS_PREFIX"}"
    ifa=${ifa:0:15}; ifb=${ifb:0:15}
    # create with temporary unique names in the root ns, then move: avoids clashes with
    # other runs' interfaces in the root namespace.
    local tmpa="mkt$$a$RANDOM" tmpb="mkt$$b$RANDOM"
    tmpa=${tmpa:0:15}; tmpb=${tmpb:0:15}
    ip link add "$tmpa" type veth peer name "$tmpb" || return 1
    ip link set "$tmpa" netns "$a" || { ip link del "$tmpa" 2>/dev/null; return 1; }
    ip link set "$tmpb" netns "$b" || { ip -n "$a" link del "$tmpa" 2>/dev/null; return 1; }
    ip -n "$a" link set "$tmpa" name "$ifa" || return 1
    ip -n "$b" link set "$tmpb" name "$ifb" || return 1
    local ns dev
    for ns in "$a:$ifa" "$b:$ifb"; do
        dev=${ns#*:}; ns=${ns%%:*}
        ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.accept_dad=0" \
            "net.ipv6.conf.$dev.dad_transmits=0" \
            "net.ipv4.conf.$dev.promote_secondaries=1" >/dev/null 2>&1
        ip -n "$ns" link set "$dev" up
    done
    [ -n "$a4" ] && { ns_addr "$a" "$ifa" "$a4" || return 1; }
    [ -n "$b4" ] && { ns_addr "$b" "$ifb" "$b4" || return 1; }
    [ -n "$a6" ] && { ns_addr "$a" "$ifa" "$a6" || return 1; }
    [ -n "$b6" ] && { ns_addr "$b" "$ifb" "$b6" || return 1; }
    return 0
}

# ---------------------------------------------------------------- processes
# ns_spawn NS LOGFILE CMD... — start CMD inside NS in the background (stdout+stderr to
# LOGFILE, stdin /dev/null), record its PID for cleanup and set NS_LAST_PID. Call it
# directly, not as $(ns_spawn ...): a command substitution would wait for the process.
# `ip netns exec` execs CMD, so the PID is CMD's own.
NS_LAST_PID=
ns_spawn() {
    local ns=$1 log=$2; shift 2
    ip netns exec "$ns" "$@" >"$log" 2>&1 </dev/null &
    NS_LAST_PID=$!
    track_pid "$NS_LAST_PID"
}

# ns_wire_segments NS IFC — IFC and its veth peer (in whichever namespace) hand the wire
# single packets, as a NIC does. mobiked sends ESP-in-UDP as GSO super-packets
# (UDP_SEGMENT) and a veth carries those whole, so a capture on it would see one 64 KB
# datagram holding many ESP packets, which no dissector reads as ESP. With
# gso_max_segs 1 the kernel segments before the device and its taps.
ns_wire_segments() {
    local ns=$1 ifc=$2 me peer other name
    ip -n "$ns" link set dev "$ifc" gso_max_segs 1 || return 1
    read -r me peer < <(ip -n "$ns" -j -d link show dev "$ifc" |
        python3 -c 'import json,sys; l=json.load(sys.stdin)[0]; print(l["ifindex"], l.get("link_index", ""))')
    [ -n "$peer" ] || return 0
    for other in $(ip netns list | awk '{print $1}'); do
        [ "$other" = "$ns" ] && continue
        name=$(ip -n "$other" -j -d link show 2>/dev/null | python3 -c '
import json, sys
for l in json.load(sys.stdin):
    if l["ifindex"] == int(sys.argv[1]) and l.get("link_index") == int(sys.argv[2]):
        print(l["ifname"])' "$peer" "$me")
        [ -n "$name" ] && { ip -n "$other" link set dev "$name" gso_max_segs 1; return; }
    done
}

# ns_capture NS IFACE FILE [CAPTURE_FILTER] — packet capture with dumpcap (from tshark's
# wireshark-common) inside NS; returns once the capture file exists (bounded, 5 s). Stop it
# with kill_pid "$NS_LAST_PID" (TERM makes dumpcap flush and close the file), or leave it to
# netns_cleanup. Read it with: tshark -r FILE -d udp.port==4500,esp ... The link carries
# single packets from then on (ns_wire_segments).
ns_capture() {
    local ns=$1 ifc=$2 file=$3 filter=${4:-}
    ns_wire_segments "$ns" "$ifc" || log_warn "gso_max_segs on $ns/$ifc failed: the capture may hold GSO packets"
    local args=(-q -i "$ifc" -w "$file")
    [ -n "$filter" ] && args+=(-f "$filter")
    ns_spawn "$ns" "$file.log" dumpcap "${args[@]}"
    local pid=$NS_LAST_PID
    wait_for "[ -s '$file' ] || ! kill -0 $pid" 5 0.05 && kill -0 "$pid" 2>/dev/null && [ -s "$file" ] \
        || { log_err "dumpcap failed on $ns/$ifc"; dump_logs "$file.log"; return 1; }
}

# ---- fixed-schedule UDP probe (tests/lib/udp_probe.py): loss and outage through a tunnel
_NS_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# probe_recv NS BIND PORT DURATION_S OUT [EXPECT] — receiver in the background; returns once
# its socket is bound (bounded, 5 s). It writes its summary to OUT when it ends (after
# DURATION_S, after sequence EXPECT-1 arrived, or on TERM).
probe_recv() {
    local ns=$1 bind=$2 port=$3 dur=$4 out=$5 expect=${6:-0}
    rm -f "$out" "$out.ready"
    ns_spawn "$ns" "$out.log" python3 "$_NS_LIBDIR/udp_probe.py" recv --bind "$bind" \
        --port "$port" --duration "$dur" --out "$out" --expect "$expect" --ready "$out.ready"
    local pid=$NS_LAST_PID
    wait_for "[ -e '$out.ready' ] || ! kill -0 $pid" 5 0.05 && [ -e "$out.ready" ] \
        || { log_err "udp probe receiver did not start"; dump_logs "$out.log"; return 1; }
}

# probe_send NS SRC DST PORT COUNT INTERVAL_MS — sender in the foreground (bounded by
# COUNT * INTERVAL_MS + 1 s inside the script); prints "sent=.. send_errors=.. late_max_ms=..".
probe_send() {
    local ns=$1 src=$2 dst=$3 port=$4 count=$5 iv=$6
    ip netns exec "$ns" python3 "$_NS_LIBDIR/udp_probe.py" send --src "$src" --dst "$dst" \
        --port "$port" --count "$count" --interval-ms "$iv"
}

# probe_result OUT KEY [PID] — if PID is given and still running, TERM it first; wait
# (bounded, 5 s) for OUT and print the value of KEY (lost, max_gap_ms, ...).
probe_result() {
    local out=$1 key=$2 pid=${3:-}
    [ -n "$pid" ] && kill_pid "$pid" 3
    wait_for "[ -s '$out' ]" 5 0.05 || { log_err "no probe summary in $out"; return 1; }
    awk -F= -v k="$key" '$1 == k { print substr($0, length(k) + 2); f = 1 } END { exit !f }' "$out"
}

# wait_for CMD TIMEOUT_S [INTERVAL_S] — eval CMD until it succeeds; bounded by
# ceil(TIMEOUT_S / INTERVAL_S) attempts and by wall time. Returns 0 on success, 1 on timeout.
wait_for() {
    local cmd=$1 timeout=${2:-10} interval=${3:-0.1}
    local to_ms iv_ms
    to_ms=$(awk -v t="$timeout" 'BEGIN{printf "%d", t*1000}')
    iv_ms=$(awk -v i="$interval" 'BEGIN{printf "%d", i*1000}')
    [ "$iv_ms" -gt 0 ] || iv_ms=100
    local deadline=$(( $(date +%s%N) + to_ms * 1000000 ))
    local n=$(( (to_ms + iv_ms - 1) / iv_ms + 1 )) k
    for ((k = 0; k < n; k++)); do
        if eval "$cmd" >/dev/null 2>&1; then return 0; fi
        [ "$(date +%s%N)" -ge "$deadline" ] && break
        sleep "$interval"
    done
    return 1
}

# ns_two_uplinks A B — the MOBIKE system tests' topology: A has two links to B
# (va1 192.0.2.1/24 - vb1 192.0.2.2/24, va2 198.51.100.1/24 - vb2 198.51.100.2/24);
# B's address 203.0.113.2 sits on its lo, routed from A over link 1 (metric 10)
# and link 2 (metric 20).
ns_two_uplinks() {
    local a=$1 b=$2
    ns_link "$a" "$b" 192.0.2.1/24 192.0.2.2/24 "" "" va1 vb1 &&
        ns_link "$a" "$b" 198.51.100.1/24 198.51.100.2/24 "" "" va2 vb2 &&
        ns_lo_addr "$b" 203.0.113.2/32 &&
        ip -n "$a" route add 203.0.113.2/32 via 192.0.2.2 dev va1 metric 10 &&
        ip -n "$a" route add 203.0.113.2/32 via 198.51.100.2 dev va2 metric 20
}
