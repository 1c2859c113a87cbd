#!/bin/bash
# tests/interop/mobiked_strongswan_vip_test.sh — Configuration Payload (virtual IPs) between
# mobiked and strongSwan 5.9.x (kernel-libipsec), client 192.0.2.1, gateway 192.0.2.2, a
# server address 10.1.0.1 on the gateway's lo, pool 10.9.0.0/24, PSK, aes128gcm16.
#   ga: mobiked gateway (pools = ["users"]), strongSwan client (vips = 0.0.0.0): strongSwan
#       gets 10.9.0.x, its CHILD_SA is narrowed to it, it pings the server from it, and
#       mobiked's list-sas shows it as the peer's virtual IP
#   gb: strongSwan gateway (pools = p), mobiked client (vips = ["0.0.0.0"]): mobiked gets
#       10.9.0.x on its TUN, as the route's source, and pings the server (plain ping)
# Must run as root. Prints "N passed, N failed" last. Environment: MOBIKED_BIN (default
# build/release), KEEP=1 keeps the work dir, SCENARIOS="ga gb", TIME_LIMIT (default 85).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIB=$HERE/../lib
# shellcheck source=../lib/netns.sh
. "$LIB/netns.sh"
netns_time_limit "${TIME_LIMIT:-85}" "$0" "$@"
# shellcheck source=../lib/strongswan.sh
. "$LIB/strongswan.sh"

# shellcheck source=../lib/mobiked_checks.sh
. "$LIB/mobiked_checks.sh"
mk_checks_init

PSK=mobiked-interop-psk-0123456789abcdef
GW_ID=gw.company.com
USER_ID=user1@company.com

mk_ctl() { local md=$1; shift; ip netns exec "$(cat "$md/ns")" "$BIN/mobikectl" --socket "$md/control.sock" "$@"; }
mk_start() {
    local md=$1 ns=$2
    printf '%s\n' "$ns" >"$md/ns"
    ns_spawn "$ns" "$md/mobiked.log" "$BIN/mobiked" --config "$md/mobiked.conf" --foreground
    printf '%s\n' "$NS_LAST_PID" >"$md/pid"
    wait_for "kill -0 $NS_LAST_PID && [ -S '$md/control.sock' ] && mk_ctl '$md' status" 10 0.1
}
# mk_sa_field MD KEY — a field of the first IKE SA (lists joined by spaces)
mk_sa_field() {
    mk_ctl "$1" --json list-sas | python3 -c '
import json, sys
s = json.load(sys.stdin)["ike_sas"]
v = s[0].get(sys.argv[1], "") if s else ""
print(" ".join(map(str, v)) if isinstance(v, list) else v)' "$2"
}
mk_child() {
    mk_ctl "$1" --json list-sas | python3 -c '
import json, sys
s = json.load(sys.stdin)["ike_sas"]
v = s[0]["children"][0].get(sys.argv[1], "") if s and s[0]["children"] else ""
print(" ".join(map(str, v)) if isinstance(v, list) else v)' "$2"
}

# ping_ok NS DST [SRC]
ping_ok() {
    local out; out=$(ip netns exec "$1" ping -c 3 -i 0.2 -W 2 ${3:+-I "$3"} "$2" 2>&1)
    log_info "  $(grep -E 'received|rtt' <<<"$out" | tr '\n' ' ')"
    grep -q ' 0% packet loss' <<<"$out"
}

setup() {  # setup NAME -> NC (client ns), NG (gateway ns)
    NC=$(ns_add "${1}c") && NG=$(ns_add "${1}g") || { failc "namespaces"; return 1; }
    ns_link "$NC" "$NG" 192.0.2.1/24 192.0.2.2/24 "" "" eth0 eth0 || { failc "veth"; return 1; }
    ns_lo_addr "$NG" 10.1.0.1/32 || { failc "server address"; return 1; }
}

finish() {  # finish MD SS
    kill_pid "$(cat "$1/pid" 2>/dev/null)" 3; ss_stop "$2"
    ns_del "$NC"; ns_del "$NG"
}

# ga: mobiked gateway, strongSwan client
run_ga() {
    CUR=ga
    log_step "scenario ga: mobiked gateway with a pool, strongSwan client with vips = 0.0.0.0"
    setup ga || return
    local md=$NS_WORKDIR/ga-mobiked ss=$NS_WORKDIR/ga-strongswan vip
    mkdir -p "$md"
    cat >"$md/mobiked.conf" <<EOC
daemon = { control_socket = "$md/control.sock"; tun = "mobiked0"; log = { default = "info"; }; };
pools = { users = { addrs = "10.9.0.0/24"; }; };
connections = {
  rw = {
    local_addrs = ["192.0.2.2"];
    pools = ["users"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    local = { auth = "psk"; id = "$GW_ID"; }; remote = { auth = "psk"; id = "$USER_ID"; };
    children = { net = { local_ts = ["10.1.0.0/24"]; remote_ts = ["dynamic"]; esp_proposals = ["aes128gcm16"]; }; };
  };
};
secrets = { psk-1 = { ids = ["$GW_ID", "$USER_ID"]; secret = "$PSK"; }; };
EOC
    ss_conf "$ss" role=initiator psk="$PSK" remote_addrs=192.0.2.2 local_id="$USER_ID" remote_id="$GW_ID" \
        local_ts=dynamic remote_ts=10.1.0.0/24 ike_extra="        vips = 0.0.0.0" \
        loglevels="default = 1, ike = 2, cfg = 2, chd = 2, knl = 2, net = 1, esp = 1" || { failc "ss_conf"; return; }
    LOGS=("$md/mobiked.log" "$ss/charon.log")
    check "start strongSwan" ss_start "$ss" "$NC" 10 || return
    check "load strongSwan config" to_file "$ss/load.out" ss_load "$ss" || return
    check "start mobiked" mk_start "$md" "$NG" || return
    check "strongSwan initiates" to_file "$ss/initiate.out" ss_initiate "$ss" net 10 || return
    check "strongSwan CHILD_SA INSTALLED" wait_for "[ \"\$(ss_child_state '$ss')\" = INSTALLED ]" 5 0.1 || return
    vip=$(ss_list_sas "$ss" | sed -n "s/.*local  '$USER_ID' @ [^ ]* \[\([0-9.]*\)\].*/\1/p" | head -1)
    log_info "  strongSwan: $(ss_list_sas "$ss" | grep -E "local  |remote " | tr -s ' \n' ' ')"
    check "strongSwan got an address from mobiked's pool ($vip)" test "${vip%.*}" = 10.9.0 || return
    check "strongSwan's CHILD_SA is narrowed to $vip/32" \
        test "$(ss_child_ts "$ss")" = "$vip/32 10.1.0.0/24"
    check "mobiked list-sas: remote_vips = $vip" test "$(mk_sa_field "$md" remote_vips)" = "$vip"
    check "mobiked list-sas (text) shows [$vip] on the remote line" \
        bash -c "ip netns exec '$NG' '$BIN/mobikectl' --socket '$md/control.sock' list-sas | grep -q \"remote '$USER_ID' @ .*\[$vip\]\""
    check "mobiked's CHILD_SA remote selector is $vip/32" test "$(mk_child "$md" remote_ts)" = "$vip/32"
    check "mobiked routes $vip into its TUN" bash -c "ip -n '$NG' route show table 4500 | grep -q '^$vip dev mobiked0'"
    sleep 0.2  # libipsec's routes into ipsec0 follow the SA installation
    check "strongSwan pings the server from $vip through the tunnel" ping_ok "$NC" 10.1.0.1 "$vip"
    check "mobiked counted the ping (packets_in >= 3)" test "$(mk_child "$md" packets_in)" -ge 3
    finish "$md" "$ss"
}

# gb: strongSwan gateway, mobiked client
run_gb() {
    CUR=gb
    log_step "scenario gb: strongSwan gateway with a pool, mobiked client with vips = [\"0.0.0.0\"]"
    setup gb || return
    local md=$NS_WORKDIR/gb-mobiked ss=$NS_WORKDIR/gb-strongswan vip
    mkdir -p "$md"
    cat >"$md/mobiked.conf" <<EOC
daemon = { control_socket = "$md/control.sock"; tun = "mobiked0"; log = { default = "info"; }; };
connections = {
  vpn = {
    local_addrs = ["192.0.2.1"]; remote_addrs = ["192.0.2.2"];
    vips = ["0.0.0.0"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    local = { auth = "psk"; id = "$USER_ID"; }; remote = { auth = "psk"; id = "$GW_ID"; };
    children = { net = { local_ts = ["dynamic"]; remote_ts = ["10.1.0.0/24"]; esp_proposals = ["aes128gcm16"]; }; };
  };
};
secrets = { psk-1 = { ids = ["$USER_ID", "$GW_ID"]; secret = "$PSK"; }; };
EOC
    ss_conf "$ss" role=responder psk="$PSK" local_id="$GW_ID" remote_id="$USER_ID" \
        local_ts=10.1.0.0/24 remote_ts=dynamic ike_extra="        pools = p" \
        loglevels="default = 1, ike = 2, cfg = 2, chd = 2, knl = 2, net = 1, esp = 1" || { failc "ss_conf"; return; }
    printf 'pools {\n    p {\n        addrs = 10.9.0.0/24\n    }\n}\n' >>"$ss/swanctl/swanctl.conf"
    LOGS=("$md/mobiked.log" "$ss/charon.log")
    check "start strongSwan" ss_start "$ss" "$NG" 10 || return
    check "load strongSwan config (with pool p)" to_file "$ss/load.out" ss_load "$ss" || return
    grep -q "loaded pool 'p'" "$ss/load.out" || log_warn "  swanctl: $(tr '\n' ' ' <"$ss/load.out")"
    check "start mobiked" mk_start "$md" "$NC" || return
    check "mobiked initiates" to_file "$md/initiate.out" mk_ctl "$md" initiate --conn vpn --timeout 10 || return
    vip=$(mk_sa_field "$md" local_vips)
    log_info "  mobiked: local_vips '$vip', local_ts '$(mk_child "$md" local_ts)'"
    check "mobiked got an address from strongSwan's pool ($vip)" test "${vip%.*}" = 10.9.0 || return
    check "mobiked's CHILD_SA local selector is $vip/32" test "$(mk_child "$md" local_ts)" = "$vip/32"
    check "$vip is on mobiked's TUN" bash -c "ip -n '$NC' -4 addr show dev mobiked0 | grep -q 'inet $vip/32'"
    check "mobiked's route into the tunnel has src $vip" \
        bash -c "ip -n '$NC' route show table 4500 | grep -q '^10.1.0.0/24 dev mobiked0 .*src $vip'"
    ss_ctl "$ss" --list-pools --leases >"$ss/pools.out" 2>&1
    check "strongSwan leased $vip to $USER_ID" grep -q "$vip .*online.*$USER_ID" "$ss/pools.out"
    sleep 0.2
    check "mobiked client pings the server through the tunnel (source from the route)" ping_ok "$NC" 10.1.0.1
    check "strongSwan counted the ping (packets-in >= 3)" test "$(ss_child_get "$ss" packets-in)" -ge 3
    check "mobiked terminates" to_file "$md/terminate.out" mk_ctl "$md" terminate --conn vpn
    check "$vip leaves mobiked's TUN with the IKE SA" \
        wait_for "! ip -n '$NC' -4 addr show dev mobiked0 | grep -q 'inet $vip/'" 5 0.1
    finish "$md" "$ss"
}

for s in ${SCENARIOS:-ga gb}; do
    case $s in
        ga) run_ga ;;
        gb) run_gb ;;
        *) CUR=$s; failc "unknown scenario" ;;
    esac
done
SUMMARY_DONE=1
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
