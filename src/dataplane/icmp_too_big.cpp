#include "dataplane/icmp_too_big.hpp"

#include <algorithm>
#include <cstring>

namespace mobiked::dataplane {
namespace {

constexpr std::size_t kV4Header = 20;
constexpr std::size_t kV6Header = 40;
constexpr std::size_t kV4Max = 576;   // RFC 1812 §4.3.2.3: answer at most 576 bytes
constexpr std::size_t kV6Max = 1280;  // RFC 4443 §2.4 (c)

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
void put16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
    for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}

bool v4_source_ok(const std::uint8_t* a) {
    if (a[0] == 0 || a[0] >= 224) return false;  // unspecified/this-network, multicast, class E, broadcast
    return !(a[0] == 127);
}
bool v6_source_ok(const std::uint8_t* a) {
    if (a[0] == 0xff) return false;  // multicast
    static constexpr std::uint8_t zero[16]{};
    return std::memcmp(a, zero, 16) != 0;
}

// ICMPv4 error types (3, 4, 5, 11, 12): never answered with another error.
bool icmp4_error(std::uint8_t type) { return type == 3 || type == 4 || type == 5 || type == 11 || type == 12; }

std::size_t build_v4(ByteView p, unsigned mtu, std::span<std::uint8_t> out) {
    if (p.size() < kV4Header) return 0;
    const std::size_t ihl = static_cast<std::size_t>(p[0] & 0x0f) * 4;
    if (ihl < kV4Header || ihl > p.size()) return 0;
    if ((be16(&p[6]) & 0x1fff) != 0) return 0;  // non-first fragment
    if (!v4_source_ok(&p[12])) return 0;
    if (p[9] == 1 && (p.size() < ihl + 1 || icmp4_error(p[ihl]))) return 0;
    const std::size_t quote = std::min(p.size(), kV4Max - kV4Header - 8);
    const std::size_t len = kV4Header + 8 + quote;
    if (out.size() < len) return 0;
    std::uint8_t* o = out.data();
    std::memset(o, 0, kV4Header + 8);
    o[0] = 0x45;
    o[1] = 0xc0;  // precedence "internetwork control", as routers send errors
    put16(o + 2, static_cast<std::uint16_t>(len));
    o[8] = 64;  // TTL
    o[9] = 1;   // ICMP
    std::memcpy(o + 12, &p[16], 4);  // from the packet's destination
    std::memcpy(o + 16, &p[12], 4);  // to its source
    put16(o + 10, inet_checksum({o, kV4Header}));
    std::uint8_t* icmp = o + kV4Header;
    icmp[0] = 3;  // destination unreachable
    icmp[1] = 4;  // fragmentation needed and DF set
    put16(icmp + 6, static_cast<std::uint16_t>(std::min(mtu, 0xffffu)));
    std::memcpy(icmp + 8, p.data(), quote);
    put16(icmp + 2, inet_checksum({icmp, 8 + quote}));
    return len;
}

// Skips IPv6 extension headers (bounded) to find the upper-layer protocol;
// false for a non-first fragment or a malformed chain.
bool v6_upper(ByteView p, std::uint8_t& proto, std::size_t& offset) {
    proto = p[6];
    offset = kV6Header;
    for (int i = 0; i < 8; ++i) {
        switch (proto) {
            case 0: case 43: case 60: {  // hop-by-hop, routing, destination options
                if (offset + 8 > p.size()) return false;
                const std::size_t n = (static_cast<std::size_t>(p[offset + 1]) + 1) * 8;
                proto = p[offset];
                offset += n;
                if (offset > p.size()) return false;
                continue;
            }
            case 44:  // fragment
                if (offset + 8 > p.size()) return false;
                if ((be16(&p[offset + 2]) & 0xfff8) != 0) return false;  // not the first
                proto = p[offset];
                offset += 8;
                continue;
            default: return true;
        }
    }
    return false;
}

std::size_t build_v6(ByteView p, unsigned mtu, std::span<std::uint8_t> out) {
    if (p.size() < kV6Header) return 0;
    if (!v6_source_ok(&p[8])) return 0;
    std::uint8_t proto = 0;
    std::size_t off = 0;
    if (!v6_upper(p, proto, off)) return 0;
    if (proto == 58 && (off >= p.size() || p[off] < 128)) return 0;  // ICMPv6 error (or truncated)
    const std::size_t quote = std::min(p.size(), kV6Max - kV6Header - 8);
    const std::size_t icmp_len = 8 + quote;
    const std::size_t len = kV6Header + icmp_len;
    if (out.size() < len) return 0;
    std::uint8_t* o = out.data();
    std::memset(o, 0, kV6Header + 8);
    o[0] = 0x60;
    put16(o + 4, static_cast<std::uint16_t>(icmp_len));
    o[6] = 58;
    o[7] = 64;
    std::memcpy(o + 8, &p[24], 16);   // from the packet's destination
    std::memcpy(o + 24, &p[8], 16);   // to its source
    std::uint8_t* icmp = o + kV6Header;
    icmp[0] = 2;  // packet too big
    put32(icmp + 4, std::max(mtu, 1280u));
    std::memcpy(icmp + 8, p.data(), quote);
    // pseudo-header: addresses, upper-layer length, next header
    std::uint32_t sum = 0;
    for (std::size_t i = 8; i < 40; i += 2) sum += be16(o + i);
    sum += static_cast<std::uint32_t>(icmp_len >> 16) + static_cast<std::uint32_t>(icmp_len & 0xffff) + 58;
    put16(icmp + 2, inet_checksum({icmp, icmp_len}, sum));
    return len;
}

}  // namespace

std::uint16_t inet_checksum(ByteView data, std::uint32_t sum) {
    std::uint64_t s = sum;
    std::size_t i = 0;
    for (; i + 1 < data.size(); i += 2) s += be16(&data[i]);
    if (i < data.size()) s += static_cast<std::uint32_t>(data[i]) << 8;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(~s & 0xffff);
}

MtuVerdict mtu_verdict(ByteView packet, unsigned mtu, DfPolicy policy) {
    if (packet.size() <= mtu || packet.empty()) return MtuVerdict::fits;
    const unsigned version = packet[0] >> 4;
    if (version == 6) return packet.size() > std::max(mtu, 1280u) ? MtuVerdict::icmp : MtuVerdict::fragment;
    if (version != 4 || packet.size() < kV4Header) return MtuVerdict::fragment;
    switch (policy) {
        case DfPolicy::set: return MtuVerdict::icmp;
        case DfPolicy::clear: return MtuVerdict::fragment;
        case DfPolicy::copy: break;
    }
    return (packet[6] & 0x40) != 0 ? MtuVerdict::icmp : MtuVerdict::fragment;
}

std::size_t build_too_big(ByteView packet, unsigned mtu, std::span<std::uint8_t> out) {
    if (packet.empty()) return 0;
    switch (packet[0] >> 4) {
        case 4: return build_v4(packet, mtu, out);
        case 6: return build_v6(packet, mtu, out);
        default: return 0;
    }
}

}  // namespace mobiked::dataplane
