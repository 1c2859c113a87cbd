#!/bin/bash
# tests/interop/mobiked_strongswan_dpd_frag_test.sh — dead peer detection and IKE fragmentation
# against strongSwan 5.9.8 (kernel-libipsec), each daemon in its own namespace joined by a veth
# pair (192.0.2.1 mobiked, initiator; 192.0.2.2 strongSwan, responder).
#
# Scenarios:
#   dpd   mobiked with dpd_delay = 2 s, retransmit 1 s x1.5, 2 retries, dpd_action = restart.
#         strongSwan is killed (SIGKILL: no Delete) and started again with no state: mobiked's
#         liveness check goes unanswered, the SA is declared dead ("peer dead", ike-failed)
#         within ~7 s, its CHILD_SA removed, and dpd_action restart brings up a new IKE SA
#         with the new charon
#   frag  certificate authentication over a 1280-byte path MTU with IP fragments dropped
#         (nftables, before reassembly): mobiked sends a 3-certificate chain (root CA ->
#         intermediate -> leaf with 60 subjectAltNames, ~3.5 KB), strongSwan a leaf with 60
#         SANs; both announce IKEV2_FRAGMENTATION_SUPPORTED, IKE_AUTH goes in RFC 7383
#         fragments both ways, the SA comes up, no IP fragment was seen
#
# Must run as root. Prints "N passed, N failed" last. Environment: MOBIKED_BIN (default
# build/release), KEEP=1 keeps the work dir, SCENARIOS="dpd frag", TIME_LIMIT (default 120).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LIB=$HERE/../lib
# shellcheck source=../lib/netns.sh
. "$LIB/netns.sh"
netns_time_limit "${TIME_LIMIT:-120}" "$0" "$@"
# shellcheck source=../lib/strongswan.sh
. "$LIB/strongswan.sh"
# shellcheck source=../lib/pki.sh
. "$LIB/pki.sh"
# shellcheck source=../lib/mobiked_checks.sh
. "$LIB/mobiked_checks.sh"
mk_checks_init
# shellcheck source=../lib/mobiked_peer.sh
. "$LIB/mobiked_peer.sh"

TSI=198.51.100.0/26
TSR=198.51.100.64/26

setup() {
    CUR=$1
    NI=$(ns_add "${CUR}i") && NR=$(ns_add "${CUR}r") || return 1
    ns_link "$NI" "$NR" 192.0.2.1/24 192.0.2.2/24 "" "" eth0 eth0 || return 1
    ns_lo_addr "$NI" 198.51.100.1/32 && ns_lo_addr "$NR" 198.51.100.65/32 || return 1
    MD=$NS_WORKDIR/$CUR-mobiked SS=$NS_WORKDIR/$CUR-strongswan
    LOGS=("$MD/mobiked.log" "$SS/charon.log")
}
teardown() {
    kill_pid "$(cat "$MD/pid" 2>/dev/null)" 3; ss_stop "$SS"
    ns_del "$NI"; ns_del "$NR"
}
ss_ike_spi_pair() { ss_ike_spis "$SS" | tr 'A-F' 'a-f'; }
mk_ike_spi_pair() { echo "$(mkp_ike "$MD" spi_i) $(mkp_ike "$MD" spi_r)"; }

scenario_dpd() {
    setup dpd || { failc "namespaces"; return; }
    log_step "scenario dpd: strongSwan killed, mobiked dpd_delay 2 s, dpd_action restart"
    mkp_conf "$MD" 192.0.2.1 192.0.2.2 initiator responder "$TSI" "$TSR" \
        'dpd_delay = 2; dpd_action = "restart"; retransmit = { timeout = 1.0; base = 1.5; tries = 2; };' ""
    check "mobiked initiates (dpd_delay 2 s)" eval '
        ss_conf "$SS" role=responder psk="$MKP_PSK" local_id=responder remote_id=initiator local_ts="$TSR" remote_ts="$TSI" &&
        ss_start "$SS" "$NR" 10 && ss_load "$SS" >"$SS/load.out" 2>&1 && mkp_start "$MD" "$NI" &&
        mkp_ctl "$MD" initiate --conn s2s --timeout 10 >"$MD/initiate.out" 2>&1 &&
        wait_for "[ \"\$(ss_child_state \"$SS\")\" = INSTALLED ]" 5 0.1' || { teardown; return; }
    local spis0 t0; spis0=$(mk_ike_spi_pair)
    sleep 3
    check "liveness checks answered while strongSwan runs" \
        eval '[ "$(mkp_ike_count "$MD")" = 1 ] && grep -q "received INFORMATIONAL response [0-9]" "$MD/mobiked.log"'
    local pid; pid=$(cat "$SS/pid")
    kill -KILL "$pid" 2>/dev/null; kill_pid "$pid" 1
    t0=$(date +%s%N)
    log_info "  charon $pid killed (no Delete sent); starting a fresh one"
    check "fresh strongSwan (no state) started" eval 'ss_start "$SS" "$NR" 10 && ss_load "$SS" >"$SS/load2.out" 2>&1'
    check "mobiked declares the peer dead within 12 s" wait_for "grep -q 'ike-failed.*peer dead' '$MD/mobiked.log'" 12 0.1
    log_info "  peer declared dead $(( ($(date +%s%N) - t0) / 1000000 )) ms after the kill"
    check "its CHILD_SA was removed" grep -q "CHILD_SA .* removed" "$MD/mobiked.log"
    check "dpd_action restart initiates again" grep -q "dpd_action restart s2s" "$MD/mobiked.log"
    check "a new IKE SA with the fresh strongSwan, CHILD_SA installed" \
        wait_for "[ \"\$(ss_child_state '$SS')\" = INSTALLED ] && [ \"\$(mkp_ike_count '$MD')\" = 1 ] && [ \"\$(ss_ike_spi_pair)\" = \"\$(mk_ike_spi_pair)\" ]" 10 0.2
    check "new SPIs" test "$(mk_ike_spi_pair)" != "$spis0"
    teardown
}

# chain DIR — root CA, intermediate CA, mobiked leaf (60 SANs) and strongSwan leaf (60 SANs)
SANS=""
chain() {
    local d=$1 i
    for i in $(seq 1 60); do SANS="$SANS DNS:alias-$i.fragmentation-test.example.com"; done
    pki_ca "$d/root" ecdsa "mobiked test root CA" || return 1
    mkdir -p "$d/inter"
    pki_key "$d/inter/ca.key" ecdsa || return 1
    openssl req -new -key "$d/inter/ca.key" -out "$d/inter/ca.csr" -subj "/C=XX/O=mobiked test/CN=mobiked test intermediate" 2>/dev/null || return 1
    printf '%s\n' "basicConstraints = critical, CA:TRUE" "keyUsage = critical, keyCertSign, cRLSign" \
        "subjectKeyIdentifier = hash" "authorityKeyIdentifier = keyid" >"$d/inter/ca.ext"
    openssl x509 -req -in "$d/inter/ca.csr" -CA "$d/root/ca.pem" -CAkey "$d/root/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
        -days 30 -extfile "$d/inter/ca.ext" -out "$d/inter/ca.pem" 2>/dev/null || return 1
    # shellcheck disable=SC2086
    pki_cert "$d/inter" initiator ecdsa DNS:initiator.example.com $SANS || return 1
    # shellcheck disable=SC2086
    pki_cert "$d/root" responder ecdsa DNS:responder.example.com $SANS || return 1
    openssl verify -CAfile "$d/root/ca.pem" -untrusted "$d/inter/ca.pem" "$d/inter/initiator.pem" >/dev/null
}

# no_ip_fragments NS — drop IP fragments before reassembly, counted
no_ip_fragments() {
    ip netns exec "$1" nft -f - <<'EON'
table inet mkfrag {
    chain pre {
        type filter hook prerouting priority -450; policy accept;
        ip frag-off & 0x3fff != 0 counter drop
    }
}
EON
}
frag_drops() { ip netns exec "$1" nft list chain inet mkfrag pre 2>/dev/null | awk '/counter/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }'; }

scenario_frag() {
    setup frag || { failc "namespaces"; return; }
    log_step "scenario frag: certificate chain over a 1280-byte path MTU, IP fragments dropped"
    local pki=$NS_WORKDIR/frag-pki
    check "PKI: root -> intermediate -> leaf (60 SANs), responder leaf (60 SANs)" chain "$pki" || { teardown; return; }
    local chain_bytes; chain_bytes=$(cat "$pki/inter/initiator.der" "$pki/inter/ca.pem" | wc -c)
    log_info "  mobiked leaf DER $(wc -c <"$pki/inter/initiator.der") bytes, strongSwan leaf DER $(wc -c <"$pki/root/responder.der") bytes"
    ip -n "$NI" link set eth0 mtu 1280 && ip -n "$NR" link set eth0 mtu 1280 || { failc "MTU 1280"; teardown; return; }
    check "IP fragments dropped in both namespaces (nftables prerouting -450)" eval 'no_ip_fragments "$NI" && no_ip_fragments "$NR"'
    mkp_conf "$MD" 192.0.2.1 192.0.2.2 initiator.example.com responder.example.com "$TSI" "$TSR" "" "" \
        "local = { auth = \"pubkey\"; id = \"initiator.example.com\"; certs = [\"$pki/inter/initiator.pem\", \"$pki/inter/ca.pem\"]; key = \"$pki/inter/initiator.key\"; };" \
        "remote = { auth = \"pubkey\"; id = \"responder.example.com\"; cacerts = [\"$pki/root/ca.pem\"]; };"
    check "strongSwan responder (pubkey, fragmentation = yes)" eval '
        ss_conf "$SS" role=responder auth=pubkey cert="$pki/root/responder.pem" key="$pki/root/responder.key" cacert="$pki/root/ca.pem" \
            local_id=responder.example.com remote_id=initiator.example.com local_ts="$TSR" remote_ts="$TSI" \
            ike_extra="fragmentation = yes" loglevels="default = 1, ike = 2, enc = 1, net = 2, chd = 4, cfg = 2" &&
        ss_start "$SS" "$NR" 10 && ss_load "$SS" >"$SS/load.out" 2>&1' || { teardown; return; }
    check "mobiked starts" mkp_start "$MD" "$NI" || { teardown; return; }
    check "mobiked initiates: IKE SA and CHILD_SA up" eval 'mkp_ctl "$MD" initiate --conn s2s --timeout 15 >"$MD/initiate.out" 2>&1 &&
        wait_for "[ \"\$(ss_child_state \"$SS\")\" = INSTALLED ]" 5 0.1'
    check "both announced IKEV2_FRAGMENTATION_SUPPORTED" \
        eval 'grep -q "sending IKE_SA_INIT request.*FRAG_SUP" "$MD/mobiked.log" && grep -q "received IKE_SA_INIT response.*FRAG_SUP" "$MD/mobiked.log"'
    local nf; nf=$(grep -o 'sending IKE_AUTH request 1 .* in [0-9]* fragments' "$MD/mobiked.log" | grep -o '[0-9]* fragments' | head -1)
    log_info "  mobiked IKE_AUTH request: ${nf:-not fragmented}; strongSwan: $(grep -c 'received fragment' "$SS/charon.log") fragments received, $(grep -o 'split[^,]*' "$SS/charon.log" | head -1)"
    check "mobiked sent IKE_AUTH as RFC 7383 fragments" test -n "$nf"
    check "strongSwan reassembled them" grep -q "received fragment #" "$SS/charon.log"
    check "strongSwan answered in fragments, mobiked reassembled" \
        eval 'grep -q "splitting IKE message" "$SS/charon.log" && grep -q "received IKE_AUTH response 1" "$MD/mobiked.log"'
    check "strongSwan verified the chain via the intermediate" grep -q "reached self-signed root ca" "$SS/charon.log"
    local fi fr; fi=$(frag_drops "$NI"); fr=$(frag_drops "$NR")
    log_info "  IP fragments dropped: mobiked side ${fi:-?}, strongSwan side ${fr:-?}"
    check "no IP fragment on the wire" test "${fi:-x}" = 0 -a "${fr:-x}" = 0
    check "one IKE SA at each end, same SPIs" eval '[ "$(ss_ike_spi_pair)" = "$(mk_ike_spi_pair)" ]'
    : "$chain_bytes"
    teardown
}

for s in ${SCENARIOS:-dpd frag}; do
    case $s in
        dpd|frag) t0=$(date +%s%N); "scenario_$s"; log_info "scenario $s took $(( ($(date +%s%N) - t0) / 1000000 )) ms" ;;
        *) CUR=$s; failc "unknown scenario" ;;
    esac
done
SUMMARY_DONE=1
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
