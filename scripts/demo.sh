#!/usr/bin/env bash
# The mobiked demo on its embedded default configuration: a gateway and a
# mobile node in two network namespaces establish an IKE SA with a CHILD_SA,
# and the negotiated parameters are printed from both sides.
# Needs root and a build (scripts/run-demo.sh does both). Cleans up on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MOBIKED_BIN:-build/release}
source tests/lib/netns.sh
netns_time_limit 120 "$0" "$@"
netns_init

GW=$(ns_add gw)
MN=$(ns_add mn)
ns_link "$MN" "$GW" 192.0.2.10/24 192.0.2.1/24 "" "" mn0 gw0
ns_lo_addr "$GW" 198.51.100.1/32
ns_lo_addr "$MN" 198.51.100.100/32

D=$(tmp_dir conf)
psk=$(openssl rand -hex 24)
write_conf() {  # write_conf FILE NAME LOCAL REMOTE LID RID LTS RTS
    cat >"$1" <<CONF
daemon = {
  control_socket = "$D/$2.sock";
  log = { default = "info"; };
};
connections = {
  demo = {
    local_addrs = ["$3"];
    remote_addrs = ["$4"];
    proposals = ["aes128gcm16-prfsha256-x25519"];
    mobike = true;
    local = { auth = "psk"; id = "$5"; };
    remote = { auth = "psk"; id = "$6"; };
    children = {
      office = {
        local_ts = ["$7"];
        remote_ts = ["$8"];
        esp_proposals = ["aes128gcm16"];
        mode = "tunnel";
      };
    };
  };
};
secrets = { demo-psk = { ids = ["$5", "$6"]; secret = "0x$psk"; }; };
CONF
}
write_conf "$D/gw.conf" gw 192.0.2.1 "%any" gw.example.net mn@example.net 198.51.100.0/26 198.51.100.64/26
write_conf "$D/mn.conf" mn 192.0.2.10 192.0.2.1 mn@example.net gw.example.net 198.51.100.64/26 198.51.100.0/26

log_step "starting mobiked on the gateway and the mobile node"
ns_spawn "$GW" "$D/gw.log" "$BIN/mobiked" --config "$D/gw.conf" --foreground
ns_spawn "$MN" "$D/mn.log" "$BIN/mobiked" --config "$D/mn.conf" --foreground
wait_for "[ -S $D/gw.sock ] && [ -S $D/mn.sock ]" 10 0.1 || fail "daemons did not start" "$D/gw.log" "$D/mn.log"

ctl() { local who=$1; shift; ip netns exec "$(ns_name "$who")" "$BIN/mobikectl" --socket "$D/$who.sock" "$@"; }

log_step "mobile node initiates"
start=$(date +%s%N)
ctl mn initiate --conn demo --timeout 10 || fail "initiate failed" "$D/gw.log" "$D/mn.log"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))

echo
echo "=== mobile node: mobikectl list-sas"
ctl mn list-sas
echo
echo "=== gateway: mobikectl list-sas"
ctl gw list-sas
echo
spis_mn=$(ctl mn --json list-sas | python3 -c 'import json,sys; s=json.load(sys.stdin)["ike_sas"][0]; print(s["spi_i"], s["spi_r"], s["children"][0]["spi_in"], s["children"][0]["spi_out"])')
spis_gw=$(ctl gw --json list-sas | python3 -c 'import json,sys; s=json.load(sys.stdin)["ike_sas"][0]; print(s["spi_i"], s["spi_r"], s["children"][0]["spi_out"], s["children"][0]["spi_in"])')
[ "$spis_mn" = "$spis_gw" ] || fail "the two sides disagree: $spis_mn vs $spis_gw" "$D/gw.log" "$D/mn.log"
echo "Both sides agree on IKE SPIs and CHILD_SA SPIs ($spis_mn)."
echo "Tunnel established in ${elapsed_ms} ms (control request to established, both daemons on one host)."
