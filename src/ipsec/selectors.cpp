#include "ipsec/selectors.hpp"

#include <cctype>

namespace mobiked::ipsec {
namespace {

bool has_ports(std::uint8_t proto) {
    return proto == ipproto::tcp || proto == ipproto::udp || proto == ipproto::sctp;
}

// Fills ports from the next-layer header at `l4` (first fragment or whole packet).
void read_ports(PacketSelector& s, ByteView l4) {
    if (has_ports(s.protocol) && l4.size() >= 4) {
        s.src_port = load_be16(l4.data());
        s.dst_port = load_be16(l4.data() + 2);
    } else if ((s.protocol == ipproto::icmp || s.protocol == ipproto::icmpv6) && l4.size() >= 2) {
        s.src_port = s.dst_port = static_cast<std::uint16_t>(l4[0] << 8 | l4[1]);
    } else if (s.protocol == ipproto::mobility && l4.size() >= 3) {
        s.src_port = s.dst_port = static_cast<std::uint16_t>(l4[2] << 8);  // MH type
    } else {
        s.ports_opaque = true;
    }
}

std::optional<PacketSelector> parse_v4(ByteView p) {
    if (p.size() < 20) return std::nullopt;
    const std::size_t ihl = static_cast<std::size_t>(p[0] & 0x0f) * 4;
    const std::size_t total = load_be16(p.data() + 2);
    if (ihl < 20 || total < ihl || total > p.size()) return std::nullopt;
    PacketSelector s;
    s.src = *IpAddress::from_bytes(p.subspan(12, 4));
    s.dst = *IpAddress::from_bytes(p.subspan(16, 4));
    s.protocol = p[9];
    const bool later_fragment = (load_be16(p.data() + 6) & 0x1fff) != 0;
    if (later_fragment)
        s.ports_opaque = true;
    else
        read_ports(s, p.subspan(ihl, total - ihl));
    return s;
}

std::optional<PacketSelector> parse_v6(ByteView p) {
    if (p.size() < 40) return std::nullopt;
    const std::size_t total = 40 + std::size_t{load_be16(p.data() + 4)};
    if (total > p.size()) return std::nullopt;
    PacketSelector s;
    s.src = *IpAddress::from_bytes(p.subspan(8, 16));
    s.dst = *IpAddress::from_bytes(p.subspan(24, 16));
    std::uint8_t nh = p[6];
    std::size_t off = 40;
    for (int n = 0;; ++n) {
        if (n == kMaxExtHeaders) {
            s.protocol_opaque = s.ports_opaque = true;
            return s;
        }
        if (nh == ipproto::hopopts || nh == ipproto::routing || nh == ipproto::dstopts ||
            nh == ipproto::ah) {
            if (off + 2 > total) return std::nullopt;
            const std::size_t len = nh == ipproto::ah ? (std::size_t{p[off + 1]} + 2) * 4
                                                      : (std::size_t{p[off + 1]} + 1) * 8;
            nh = p[off];
            off += len;
            if (off > total) return std::nullopt;
        } else if (nh == ipproto::fragment) {
            if (off + 8 > total) return std::nullopt;
            const bool later_fragment = (load_be16(p.data() + off + 2) & 0xfff8) != 0;
            nh = p[off];
            off += 8;
            if (later_fragment) {
                s.protocol = nh;
                s.ports_opaque = true;
                return s;
            }
        } else {
            break;
        }
    }
    s.protocol = nh;
    read_ports(s, p.subspan(off, total - off));
    return s;
}

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

}  // namespace

std::optional<PacketSelector> extract_selector(ByteView ip_packet) {
    if (ip_packet.empty()) return std::nullopt;
    switch (ip_packet[0] >> 4) {
        case 4:
            return parse_v4(ip_packet);
        case 6:
            return parse_v6(ip_packet);
        default:
            return std::nullopt;
    }
}

FlowSelector orient(const PacketSelector& p, Direction d) {
    const bool out = d == Direction::outbound;
    return FlowSelector{.local = out ? p.src : p.dst,
                        .remote = out ? p.dst : p.src,
                        .protocol = p.protocol,
                        .protocol_opaque = p.protocol_opaque,
                        .local_port = out ? p.src_port : p.dst_port,
                        .remote_port = out ? p.dst_port : p.src_port,
                        .ports_opaque = p.ports_opaque};
}

bool TrafficSelector::contains(const IpAddress& a, std::uint8_t proto, bool proto_opaque,
                               std::uint16_t port, bool port_opaque) const {
    if (!range.contains(a)) return false;
    if (protocol != 0 && (proto_opaque || protocol != proto)) return false;
    if (ports_any()) return true;
    if (ports_opaque()) return port_opaque;
    return !port_opaque && port_first <= port && port <= port_last;
}

std::string TrafficSelector::to_string() const {
    std::string s = range.to_string() + " proto " + std::to_string(protocol);
    if (ports_opaque()) return s + " port OPAQUE";
    if (!ports_any())
        s += " port " + std::to_string(port_first) + "-" + std::to_string(port_last);
    return s;
}

bool name_matches(std::string_view pattern, std::string_view identity) {
    if (pattern == "*") return true;
    if (pattern.starts_with("*.") || pattern.starts_with("*@")) {
        const std::string_view suffix = pattern.substr(1);  // ".example.com" / "@example.com"
        return identity.size() > suffix.size() &&
               iequal(identity.substr(identity.size() - suffix.size()), suffix);
    }
    return iequal(pattern, identity);
}

}  // namespace mobiked::ipsec
