// ESP (RFC 4303) seal and open, tunnel and transport mode, IPv4 and IPv6,
// with AES-GCM-16 (RFC 4106), ChaCha20-Poly1305 (RFC 7634) or AES-CBC with
// HMAC-SHA2 (RFC 3602, RFC 4868), 32- or 64-bit sequence numbers.
//
// Both work in place on a caller-owned PacketBuffer: no allocation, no key
// schedule per packet. On failure the result names the reason, the SA's
// drop counter for it is incremented, and the buffer holds garbage that
// must not be sent or delivered.
//
// Wire layout produced by seal (RFC 4303 §2):
//   [outer IP][UDP 4500 if udp_encap] SPI | Seq | IV | payload | pad 1,2,3.. |
//   pad length | next header | ICV
// AEAD: IV = the 64-bit sequence number (unique per SA, RFC 4106 §3.1 /
// RFC 7634 §2), nonce = salt || IV, AAD = SPI || Seq (ESN: SPI || Seq-hi ||
// Seq-lo, RFC 4106 §5). CBC: ICV over
// SPI..ciphertext with Seq-hi appended for ESN (RFC 4303 §2.2.1).
#pragma once

#include <cstdint>
#include <optional>

#include "common/time.hpp"
#include "ipsec/packet_buffer.hpp"
#include "ipsec/sa.hpp"

namespace mobiked::ipsec::esp {

// Bytes seal adds in front (outer IP + UDP + ESP header + IV) and behind
// (worst-case padding + trailer + ICV) for this SA.
std::size_t headroom_needed(const Sa& sa);
std::size_t tailroom_needed(const Sa& sa);

// Outbound. `pkt` holds one whole IP packet (header first); bytes beyond its
// IP length field are dropped. Tunnel mode: the result is a complete outer
// IP packet (outer header from the SA endpoints, DSCP/ECN copied, DF per
// SaParams::df); transport mode: the original header with ESP inserted after
// it (IPv6: only without extension headers, else `unsupported`). With
// udp_encap a UDP header (RFC 3948) sits between IP and ESP; send from
// esp_offset over a UDP socket, from ip_header_len over a raw socket.
// Errors: unsupported (wrong SA kind/direction), expired, malformed,
// no_room, seq_overflow (rekey: the seq_hard event is set), crypto_error.
PacketResult seal(Sa& sa, PacketBuffer& pkt, Time now);

// Inbound. `pkt` starts at the ESP header (SPI); the caller found `sa` by
// that SPI and removed any outer IP/UDP header. Order of checks: length,
// SPI, anti-replay (before integrity), ICV, then the window moves, padding
// is verified, the inner packet is rebuilt and must match the SA's
// selectors. On ok `pkt` holds the inner IP packet: tunnel mode the
// decapsulated packet (TFC padding after its length trimmed); transport mode
// a fresh IP header (remote -> local SA addresses, TTL 64) plus the payload.
// Errors: unsupported, expired, malformed, unknown_spi, replay, auth_failed,
// bad_padding, dummy (next header 59), no_room (transport header), selector_mismatch.
PacketResult open(Sa& sa, PacketBuffer& pkt, Time now);

// The SPI of an ESP packet (first 4 bytes), for the SAD lookup.
std::optional<std::uint32_t> peek_spi(ByteView esp_packet);

}  // namespace mobiked::ipsec::esp
