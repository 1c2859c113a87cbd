# shellcheck shell=bash
# tests/lib/mobiked_peer.sh — one mobiked daemon as an interop peer in a namespace.
# Source after netns.sh and mobiked_checks.sh (needs $BIN). One mobiked = one
# directory MD: mobiked.conf, control.sock, mobiked.log, pid, ns.
#   mkp_conf MD LADDR RADDR LID RID LTS RTS [CONN_EXTRA] [CHILD_EXTRA] [AUTH_LOCAL] [AUTH_REMOTE]
#                           PSK s2s connection (child "net"); *_EXTRA are libconfig lines;
#                           AUTH_* replace the local / remote groups (pubkey)
#   mkp_start MD NS         start it, wait for the control socket
#   mkp_ctl MD ARGS...      mobikectl against it
#   mkp_child MD KEY        a field of the first IKE SA's first CHILD_SA (list-sas --json)
#   mkp_ike MD KEY          a field of the first IKE SA
#   mkp_ike_count MD        number of IKE SAs listed
#   mkp_events MD KIND      number of engine events KIND (ike-rekeyed, ...) in the log
#   mkp_probe_both NS_A A NS_B B COUNT MS OUT_PREFIX   UDP probes both ways at once,
#                           background; mkp_probe_wait (not in a subshell: it waits for
#                           them) sets MKP_LOST="lost_a_to_b lost_b_to_a"
MKP_PSK=${MKP_PSK:-mobiked-interop-psk-0123456789abcdef}

mkp_conf() {
    local md=$1 laddr=$2 raddr=$3 lid=$4 rid=$5 lts=$6 rts=$7 cx=${8:-} chx=${9:-}
    local la=${10:-"local = { auth = \"psk\"; id = \"$lid\"; };"} ra=${11:-"remote = { auth = \"psk\"; id = \"$rid\"; };"}
    mkdir -p "$md"
    cat >"$md/mobiked.conf" <<EOC
daemon = { control_socket = "$md/control.sock"; tun = "mobiked0"; log = { default = "info"; ike = "debug"; }; };
connections = {
  s2s = {
    local_addrs = ["$laddr"]; remote_addrs = ["$raddr"];
    proposals = ["aes128gcm16-prfsha256-x25519"]; mobike = true;
    $cx
    $la $ra
    children = { net = { local_ts = ["$lts"]; remote_ts = ["$rts"]; esp_proposals = ["aes128gcm16"]; $chx }; };
  };
};
secrets = { psk-1 = { ids = ["$lid", "$rid"]; secret = "$MKP_PSK"; }; };
EOC
}
mkp_ctl() { local md=$1; shift; ip netns exec "$(cat "$md/ns")" "$BIN/mobikectl" --socket "$md/control.sock" "$@"; }
mkp_start() {
    local md=$1 ns=$2
    printf '%s\n' "$ns" >"$md/ns"
    "$BIN/mobiked" --check-config "$md/mobiked.conf" >"$md/check.out" 2>&1 || { cat "$md/check.out" >&2; return 1; }
    ns_spawn "$ns" "$md/mobiked.log" "$BIN/mobiked" --config "$md/mobiked.conf" --foreground
    printf '%s\n' "$NS_LAST_PID" >"$md/pid"
    wait_for "kill -0 $NS_LAST_PID && [ -S '$md/control.sock' ] && mkp_ctl '$md' status >/dev/null" 10 0.1
}
_mkp_json() {
    mkp_ctl "$1" --json list-sas 2>/dev/null | python3 -c '
import json, sys
what, key = sys.argv[1], sys.argv[2]
try:
    s = json.load(sys.stdin)["ike_sas"]
except Exception:
    s = []
if what == "count": print(len(s))
elif what == "ike": print(s[0].get(key, "") if s else "")
else: print(s[0]["children"][0].get(key, "") if s and s[0]["children"] else "")' "$2" "${3:-}"
}
mkp_child() { _mkp_json "$1" child "$2"; }
mkp_ike() { _mkp_json "$1" ike "$2"; }
mkp_ike_count() { _mkp_json "$1" count; }
mkp_events() { grep -c "dmn.* $2 " "$1/mobiked.log" 2>/dev/null || true; }

mkp_probe_both() {
    local nsa=$1 a=$2 nsb=$3 b=$4 count=$5 ms=$6 out=$7 port=$((30000 + RANDOM % 10000)) dur
    dur=$(( count * ms / 1000 + 5 ))
    probe_recv "$nsb" "$b" "$port" "$dur" "$out-ab.txt" "$count" || return 1
    MKP_RPID_AB=$NS_LAST_PID
    probe_recv "$nsa" "$a" "$((port + 1))" "$dur" "$out-ba.txt" "$count" || return 1
    MKP_RPID_BA=$NS_LAST_PID
    probe_send "$nsa" "$a" "$b" "$port" "$count" "$ms" >"$out-ab.send" 2>&1 &
    MKP_SPID_AB=$!; track_pid "$MKP_SPID_AB"
    probe_send "$nsb" "$b" "$a" "$((port + 1))" "$count" "$ms" >"$out-ba.send" 2>&1 &
    MKP_SPID_BA=$!; track_pid "$MKP_SPID_BA"
    MKP_PROBE_OUT=$out
}
mkp_probe_wait() {
    wait "$MKP_SPID_AB" "$MKP_SPID_BA" 2>/dev/null
    sleep 0.3
    local ab ba
    ab=$(probe_result "$MKP_PROBE_OUT-ab.txt" lost "$MKP_RPID_AB")
    ba=$(probe_result "$MKP_PROBE_OUT-ba.txt" lost "$MKP_RPID_BA")
    MKP_LOST="${ab:-x} ${ba:-x}"
    log_info "  probe senders: $(cat "$MKP_PROBE_OUT-ab.send") / $(cat "$MKP_PROBE_OUT-ba.send")"
}
