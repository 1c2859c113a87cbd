// RFC 4301 §5.2 for traffic that never reaches the TUN: an nftables table
// owned by the daemon ("inet mobiked_<tun>") that drops
//   - cleartext matching a PROTECT policy that would leave by any interface
//     but the TUN (output, forward) or that arrives by any interface but the
//     TUN (input, forward): with the SA down (no routes into the TUN) or a
//     route that bypasses table 4500, nothing leaks, nothing is accepted;
//   - traffic matching a DISCARD policy, in both directions, counted.
// Policies are rendered in SPD order: a PROTECT entry first accepts its
// traffic on the TUN, then drops it elsewhere, so a later DISCARD (e.g. the
// final ANY DISCARD) never hits protected traffic in the tunnel.
// Exempt: packets carrying the daemon's fwmark (its IKE/ESP sockets),
// arriving IKE/ESP-in-UDP (UDP 500/4500) and raw ESP, IPv6 neighbour
// discovery, and ICMP "fragmentation needed"/"packet too big" (outer PMTU).
//
// The table is written with `nft -f -` (no libnftables-dev on the build
// hosts): one atomic transaction per change ("add table; delete table;
// table {...}"), only when the rendered text differs from the last one, so
// rekeys with unchanged selectors cost nothing. The helper is bounded (2 s,
// then SIGKILL) and never runs on the packet path. The table is deleted when
// the Enforcer goes; one left by a crash keeps failing closed until the next
// start replaces it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"

namespace mobiked::dataplane {

struct EnforcedPolicy {
    enum class Action : std::uint8_t { protect, discard } action = Action::protect;
    AddressRange local;   // this side (source of outbound traffic)
    AddressRange remote;  // the other side
    std::uint8_t protocol = 0;  // 0 = any
    // Ports (0-65535 = any). Opaque or ICMP type/code selectors: any (a superset:
    // PROTECT's routes already send every port of the addresses into the TUN).
    std::uint16_t local_port_first = 0, local_port_last = 65535;
    std::uint16_t remote_port_first = 0, remote_port_last = 65535;
    std::string label;  // nft comment: connection/child or "discard"
    bool operator==(const EnforcedPolicy&) const = default;
};

struct EnforcementConfig {
    std::string table;       // nft table name (family inet)
    std::string tun;         // the TUN device's name
    std::uint32_t fwmark = 0;
    std::uint16_t ike_port = 500, natt_port = 4500;
};

// The table name for a TUN: "mobiked_" + the name with anything but
// [A-Za-z0-9_] replaced by '_'.
std::string enforcement_table_name(const std::string& tun);

// The whole nft script: replaces the table atomically with `policies` in order.
std::string render_enforcement(const EnforcementConfig& c, const std::vector<EnforcedPolicy>& policies);
// "delete table" for exit (errors ignored by the caller).
std::string render_enforcement_removal(const EnforcementConfig& c);

// Runs `nft -f -` with `script` on stdin; waits at most `limit` (then kills
// it). Error: nft's stderr (first lines) or why it could not run.
Status run_nft(const std::string& script, std::chrono::milliseconds limit = std::chrono::milliseconds(2000));

class Enforcer {
public:
    explicit Enforcer(EnforcementConfig c) : config_(std::move(c)) {}
    ~Enforcer();
    Enforcer(const Enforcer&) = delete;
    Enforcer& operator=(const Enforcer&) = delete;
    // Installs the table for `policies` when they changed since the last call.
    Status apply(const std::vector<EnforcedPolicy>& policies);
    bool installed() const { return installed_; }
    const EnforcementConfig& config() const { return config_; }

private:
    EnforcementConfig config_;
    std::string last_;
    bool installed_ = false;
};

}  // namespace mobiked::dataplane
