// AH (RFC 4302) seal and open, transport and tunnel mode, IPv4 and IPv6,
// over raw IP (AH cannot cross NAT). Integrity only: HMAC-SHA2-256-128,
// -384-192, -512-256 (RFC 4868); ESN per RFC 4302 §2.5.1 (Seq-hi appended
// for the ICV computation only).
//
// The ICV covers the IP header with its mutable fields zeroed (RFC 4302
// §3.3.3.1): IPv4 TOS, flags + fragment offset, TTL, header checksum and
// every option not listed immutable in Appendix A.1; IPv6 traffic class,
// flow label and hop limit. IPv6 extension headers in front of AH are not
// supported (`unsupported`).
//
// Both work in place on a caller-owned PacketBuffer holding a whole IP
// packet and need 4 bytes of tailroom when ESN is on (scratch for Seq-hi).
// Failures are counted on the SA, as for ESP.
#pragma once

#include "common/time.hpp"
#include "ipsec/packet_buffer.hpp"
#include "ipsec/sa.hpp"

namespace mobiked::ipsec::ah {

// Transport: AH inserted after the IP header, whose protocol becomes 51.
// Tunnel: outer header (from the SA endpoints) + AH + the whole packet.
// Errors: unsupported, expired, malformed, no_room, seq_overflow.
PacketResult seal(Sa& sa, PacketBuffer& pkt, Time now);

// `pkt` is the received IP packet with AH right after the (outer) header.
// On ok: transport — the header with AH removed; tunnel — the inner packet.
// Errors: unsupported, expired, malformed, unknown_spi, replay, auth_failed,
// no_room, selector_mismatch.
PacketResult open(Sa& sa, PacketBuffer& pkt, Time now);

}  // namespace mobiked::ipsec::ah
