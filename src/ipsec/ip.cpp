#include "ipsec/ip.hpp"

#include <cstring>

namespace mobiked::ipsec {

std::optional<IpHeaderInfo> parse_ip_header(ByteView p) {
    if (p.empty()) return std::nullopt;
    IpHeaderInfo h;
    h.version = p[0] >> 4;
    if (h.version == 4) {
        if (p.size() < kIpv4HeaderSize) return std::nullopt;
        h.header_len = static_cast<std::size_t>(p[0] & 0x0f) * 4;
        h.total_len = load_be16(p.data() + 2);
        h.protocol = p[9];
        h.tos = p[1];
        h.df = (p[6] & 0x40) != 0;
        if (h.header_len < kIpv4HeaderSize || h.total_len < h.header_len || h.total_len > p.size())
            return std::nullopt;
        return h;
    }
    if (h.version == 6) {
        if (p.size() < kIpv6HeaderSize) return std::nullopt;
        h.header_len = kIpv6HeaderSize;
        h.total_len = kIpv6HeaderSize + load_be16(p.data() + 4);
        h.protocol = p[6];
        h.tos = static_cast<std::uint8_t>((p[0] & 0x0f) << 4 | p[1] >> 4);
        if (h.total_len > p.size()) return std::nullopt;
        return h;
    }
    return std::nullopt;
}

bool is_ipv6_extension(std::uint8_t nh) {
    return nh == ipproto::hopopts || nh == ipproto::routing || nh == ipproto::fragment ||
           nh == ipproto::dstopts;
}

std::uint32_t checksum_add(std::uint32_t sum, ByteView data) {
    std::size_t i = 0;
    for (; i + 1 < data.size(); i += 2) sum += static_cast<std::uint32_t>(data[i] << 8 | data[i + 1]);
    if (i < data.size()) sum += static_cast<std::uint32_t>(data[i] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

std::uint16_t checksum_fold(std::uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(sum);
}

void set_ipv4_checksum(std::uint8_t* hdr) {
    const std::size_t ihl = static_cast<std::size_t>(hdr[0] & 0x0f) * 4;
    store_be16(hdr + 10, 0);
    store_be16(hdr + 10, static_cast<std::uint16_t>(~checksum_fold(checksum_add(0, {hdr, ihl}))));
}

void set_ip_length_and_protocol(std::uint8_t* hdr, std::size_t total_len, std::uint8_t proto) {
    if (hdr[0] >> 4 == 4) {
        store_be16(hdr + 2, static_cast<std::uint16_t>(total_len));
        hdr[9] = proto;
        set_ipv4_checksum(hdr);
    } else {
        store_be16(hdr + 4, static_cast<std::uint16_t>(total_len - kIpv6HeaderSize));
        hdr[6] = proto;
    }
}

void write_ipv4_header(std::uint8_t* p, const IpAddress& src, const IpAddress& dst, std::uint8_t proto,
                       std::size_t total_len, std::uint8_t tos, bool df, std::uint8_t ttl,
                       std::uint16_t id) {
    p[0] = 0x45;
    p[1] = tos;
    store_be16(p + 2, static_cast<std::uint16_t>(total_len));
    store_be16(p + 4, id);
    store_be16(p + 6, df ? 0x4000 : 0);
    p[8] = ttl;
    p[9] = proto;
    std::memcpy(p + 12, src.bytes().data(), 4);
    std::memcpy(p + 16, dst.bytes().data(), 4);
    set_ipv4_checksum(p);
}

void write_ipv6_header(std::uint8_t* p, const IpAddress& src, const IpAddress& dst, std::uint8_t nh,
                       std::size_t total_len, std::uint8_t traffic_class, std::uint8_t hop_limit) {
    p[0] = static_cast<std::uint8_t>(0x60 | traffic_class >> 4);
    p[1] = static_cast<std::uint8_t>(traffic_class << 4);
    p[2] = p[3] = 0;
    store_be16(p + 4, static_cast<std::uint16_t>(total_len - kIpv6HeaderSize));
    p[6] = nh;
    p[7] = hop_limit;
    std::memcpy(p + 8, src.bytes().data(), 16);
    std::memcpy(p + 24, dst.bytes().data(), 16);
}

void write_udp_header(std::uint8_t* udp, const SaParams& sa, std::size_t payload_len,
                      const std::uint8_t* ip_hdr) {
    const std::size_t len = kUdpHeaderSize + payload_len;
    store_be16(udp, sa.local.port);
    store_be16(udp + 2, sa.remote.port);
    store_be16(udp + 4, static_cast<std::uint16_t>(len));
    store_be16(udp + 6, 0);
    if (ip_hdr[0] >> 4 != 6) return;  // RFC 3948 §2.1: zero checksum over IPv4
    std::uint32_t sum = checksum_add(0, {ip_hdr + 8, 32});  // source + destination
    std::uint8_t tail[4] = {0, 0, 0, ipproto::udp};
    sum = checksum_add(sum, {tail, 4});
    sum += static_cast<std::uint32_t>(len);
    sum = checksum_add(sum, {udp, len});
    std::uint16_t c = static_cast<std::uint16_t>(~checksum_fold(sum));
    store_be16(udp + 6, c == 0 ? 0xffff : c);
}

std::size_t push_outer_header(PacketBuffer& pkt, const SaParams& sa, std::uint8_t proto, std::uint8_t tos,
                              bool inner_df, std::uint16_t ip_id) {
    const bool v4 = sa.local.address.is_v4();
    const std::size_t ip_len = v4 ? kIpv4HeaderSize : kIpv6HeaderSize;
    const bool udp = sa.udp_encap && proto == ipproto::esp;
    if (pkt.headroom() < ip_len + (udp ? kUdpHeaderSize : 0)) return 0;
    const std::size_t l4_len = pkt.size();
    if (udp) pkt.push_front(kUdpHeaderSize);
    pkt.push_front(ip_len);
    const std::uint8_t outer_proto = udp ? ipproto::udp : proto;
    if (v4) {
        const bool df = sa.df == DfPolicy::set || (sa.df == DfPolicy::copy && inner_df);
        write_ipv4_header(pkt.data(), sa.local.address, sa.remote.address, outer_proto, pkt.size(), tos,
                          df, sa.outer_ttl, ip_id);
    } else {
        write_ipv6_header(pkt.data(), sa.local.address, sa.remote.address, outer_proto, pkt.size(), tos,
                          sa.outer_ttl);
    }
    if (udp) write_udp_header(pkt.data() + ip_len, sa, l4_len, pkt.data());
    return ip_len;
}

}  // namespace mobiked::ipsec
