// Minimal IPv4/IPv6 header helpers for the encapsulation code: reading the
// fields ESP/AH need, fixing lengths and checksums, and building the outer
// header of tunnel mode (with the RFC 3948 UDP header for NAT traversal).
// All functions work in place on caller memory and never allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/bytes.hpp"
#include "ipsec/constants.hpp"
#include "ipsec/packet_buffer.hpp"
#include "ipsec/sa.hpp"

namespace mobiked::ipsec {

inline constexpr std::size_t kIpv4HeaderSize = 20;
inline constexpr std::size_t kIpv6HeaderSize = 40;
inline constexpr std::size_t kUdpHeaderSize = 8;

struct IpHeaderInfo {
    int version = 4;
    std::size_t header_len = 0;  // IPv4: IHL*4 (with options); IPv6: the fixed 40 bytes
    std::uint8_t protocol = 0;   // IPv4 protocol / IPv6 next header of the fixed header
    std::size_t total_len = 0;   // from the header's length field
    std::uint8_t tos = 0;        // IPv4 TOS / IPv6 traffic class (DSCP+ECN)
    bool df = false;             // IPv4 DF bit (IPv6: false)
};
// nullopt when not a well-formed header whose length field fits in `p`.
std::optional<IpHeaderInfo> parse_ip_header(ByteView p);

bool is_ipv6_extension(std::uint8_t nh);

// RFC 1071 one's-complement sum folded to 16 bits, not inverted.
std::uint32_t checksum_add(std::uint32_t sum, ByteView data);
std::uint16_t checksum_fold(std::uint32_t sum);

// Writes total length (IPv4) or payload length (IPv6) and the protocol/next
// header of the fixed header, then the IPv4 header checksum.
void set_ip_length_and_protocol(std::uint8_t* hdr, std::size_t total_len, std::uint8_t proto);
void set_ipv4_checksum(std::uint8_t* hdr);

// Writes a bare header (IPv4 without options) at `p` for a packet of `total_len`.
void write_ipv4_header(std::uint8_t* p, const IpAddress& src, const IpAddress& dst, std::uint8_t proto,
                       std::size_t total_len, std::uint8_t tos, bool df, std::uint8_t ttl,
                       std::uint16_t id);
void write_ipv6_header(std::uint8_t* p, const IpAddress& src, const IpAddress& dst, std::uint8_t nh,
                       std::size_t total_len, std::uint8_t traffic_class, std::uint8_t hop_limit);

// Tunnel mode: prepends the outer header from the SA endpoints (and the UDP
// header when the SA is UDP-encapsulated and proto is ESP). `tos` and
// `inner_df` come from the inner packet. Returns the outer IP header length,
// or 0 (buffer unchanged) when the headroom is short.
std::size_t push_outer_header(PacketBuffer& pkt, const SaParams& sa, std::uint8_t proto, std::uint8_t tos,
                              bool inner_df, std::uint16_t ip_id);

// Writes the RFC 3948 UDP header at `udp` for a UDP payload of `payload_len`
// bytes following it; the checksum is 0 over IPv4 and computed over IPv6
// (RFC 8200 §8.1), where `ip_hdr` is needed for the pseudo-header.
void write_udp_header(std::uint8_t* udp, const SaParams& sa, std::size_t payload_len,
                      const std::uint8_t* ip_hdr);

}  // namespace mobiked::ipsec
