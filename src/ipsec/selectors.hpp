// Packet selectors (RFC 4301 §4.4.1.1) read from IPv4/IPv6 headers, and the
// traffic-selector ranges SAs and PFP-derived SA requests carry.
//
// Our reading of the corner cases:
//  * ICMP/ICMPv6 have no ports: the 16-bit value type<<8 | code stands in
//    for both ports, as IKEv2 packs it (RFC 7296 §3.13.1). The Mobility
//    Header (RFC 6275, protocol 135) does the same with MH type<<8.
//  * Ports are OPAQUE when they cannot be read: a non-first fragment, a
//    first fragment too short to hold them, or a protocol that has none
//    (e.g. GRE). A port selector matches OPAQUE only if it is ANY or OPAQUE.
//  * The next-layer protocol is OPAQUE when the IPv6 extension-header chain
//    is longer than kMaxExtHeaders.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.hpp"
#include "common/net.hpp"
#include "ipsec/constants.hpp"

namespace mobiked::ipsec {

inline constexpr int kMaxExtHeaders = 8;

// What the IP header says, as source/destination.
struct PacketSelector {
    IpAddress src;
    IpAddress dst;
    std::uint8_t protocol = 0;
    bool protocol_opaque = false;
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    bool ports_opaque = false;
};

// Reads the selector fields of a whole IP packet (header first). nullopt
// when the packet is not a well-formed IPv4/IPv6 packet: bad version, short
// header, total length beyond the data, or a truncated extension header.
std::optional<PacketSelector> extract_selector(ByteView ip_packet);

// The same fields seen from this host: local/remote instead of src/dst.
// Outbound packets leave from local; inbound packets arrive at local.
struct FlowSelector {
    IpAddress local;
    IpAddress remote;
    std::uint8_t protocol = 0;
    bool protocol_opaque = false;
    std::uint16_t local_port = 0;
    std::uint16_t remote_port = 0;
    bool ports_opaque = false;
};
FlowSelector orient(const PacketSelector& p, Direction d);

// One traffic-selector range (IKEv2 TS, RFC 7296 §3.13.1): protocol 0 is
// ANY; the port range 65535..0 is IKEv2's encoding of OPAQUE.
struct TrafficSelector {
    AddressRange range;
    std::uint8_t protocol = 0;
    std::uint16_t port_first = 0;
    std::uint16_t port_last = 65535;

    bool ports_any() const { return port_first == 0 && port_last == 65535; }
    bool ports_opaque() const { return port_first == 65535 && port_last == 0; }
    bool contains(const IpAddress& a, std::uint8_t proto, bool proto_opaque, std::uint16_t port,
                  bool port_opaque) const;
    std::string to_string() const;
    bool operator==(const TrafficSelector&) const = default;
};

// A packet matches an SA when its local side lies in one of local_ts and its
// remote side in one of remote_ts (RFC 4301 §5.2 step 4).
template <typename Range>
bool selectors_match(const Range& local_ts, const Range& remote_ts, const FlowSelector& f) {
    bool local_ok = false;
    for (const TrafficSelector& ts : local_ts)
        if ((local_ok = ts.contains(f.local, f.protocol, f.protocol_opaque, f.local_port,
                                    f.ports_opaque)))
            break;
    if (!local_ok) return false;
    for (const TrafficSelector& ts : remote_ts)
        if (ts.contains(f.remote, f.protocol, f.protocol_opaque, f.remote_port, f.ports_opaque))
            return true;
    return false;
}

// Name selectors and PAD identities: `pattern` is an exact identity
// (case-insensitive), "*" (anyone), "*.example.com" (any FQDN below), or
// "*@example.com" (any user FQDN at that domain).
bool name_matches(std::string_view pattern, std::string_view identity);

}  // namespace mobiked::ipsec
