// ICMP "Fragmentation Needed" (IPv4, type 3 code 4, RFC 792/1191) and
// "Packet Too Big" (ICMPv6 type 2, RFC 4443) for inner packets that do not
// fit the path once sealed (RFC 4301 §8.1/§8.2): written back into the TUN,
// so the kernel hands them to the sender (local socket or forwarded host).
// Pure functions over bytes; the input is untrusted (read bounded).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/bytes.hpp"

namespace mobiked::dataplane {

// DF handling for inner IPv4 packets larger than the SA's inner MTU
// (`df_bit` in the daemon section): copy = ICMP when the inner DF bit is set,
// else seal and let the outer packet be fragmented; set = always ICMP;
// clear = never ICMP (always fragment the outer packet). IPv6 always gets
// Packet Too Big (nothing fragments an IPv6 packet on the way).
enum class DfPolicy : std::uint8_t { copy, set, clear };

// Room the largest answer needs: IPv4 576 bytes, IPv6 1280 (RFC 4443 §2.4c).
inline constexpr std::size_t kIcmpTooBigMax = 1280;

// What to do with an inner packet of `packet.size()` bytes when `mtu` is the
// largest that fits: fits, too big with an ICMP owed, too big but to be sent
// anyway (DF clear / policy clear / IPv6 below 1280: the outer is fragmented).
enum class MtuVerdict : std::uint8_t { fits, icmp, fragment };
MtuVerdict mtu_verdict(ByteView packet, unsigned mtu, DfPolicy policy);

// Builds the ICMP error for `packet` (an IPv4 or IPv6 packet that did not
// fit `mtu`) into `out` (at least kIcmpTooBigMax bytes): source = the
// packet's destination, destination = its source, quoting as much of the
// packet as the minimum MTU allows. Returns the answer's length, or 0 when
// none may be sent (malformed packet, ICMP error about an ICMP error,
// non-first fragment, multicast/broadcast/unspecified source, out too small).
// IPv6 reports at least 1280.
std::size_t build_too_big(ByteView packet, unsigned mtu, std::span<std::uint8_t> out);

// The Internet checksum (RFC 1071) over `data`, starting from `sum`.
std::uint16_t inet_checksum(ByteView data, std::uint32_t sum = 0);

}  // namespace mobiked::dataplane
